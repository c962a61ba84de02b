import Crypto
import Foundation
import TollgateCore

/// Signs a callback exactly as its provider would: the mirror of the verifying schemes.
///
/// Used by the provider simulator, `tollgate trigger` and the load generator, so everything that
/// sends a callback to the edge signs the same way. Checked byte for byte against the vectors the
/// providers' own SDKs produced (Tests/Fixtures/webhooks).
public struct WebhookSigner: Sendable {
    public let provider: Provider
    let secret: Secret
    /// Checkout.com: the fixed `Authorization` value the account is configured to send.
    let authorization: Secret?

    public init(provider: Provider, secret: Secret, authorization: Secret? = nil) {
        self.provider = provider
        self.secret = secret
        self.authorization = authorization
    }

    /// A signed callback: the headers to send and the body (Adyen signs inside the body).
    public struct SignedCallback: Sendable {
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]
    }

    /// Signs `body` at unix time `timestamp`. `id` is the Standard Webhooks message id.
    public func sign(body: [UInt8], timestamp: Int64, id: String) -> SignedCallback {
        let headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        return switch provider {
        case .stripe: SignedCallback(headers: headers + StripeSignatureScheme.sign(body, secret: secret, timestamp: timestamp), body: body)
        case .standardWebhooks: SignedCallback(headers: headers + StandardWebhooksSignatureScheme.sign(body, secret: secret, timestamp: timestamp, id: id), body: body)
        case .adyen: SignedCallback(headers: headers, body: AdyenSignatureScheme.sign(body, secret: secret))
        case .paddle: SignedCallback(headers: headers + PaddleSignatureScheme.sign(body, secret: secret, timestamp: timestamp), body: body)
        case .xsolla: SignedCallback(headers: headers + XsollaSignatureScheme.sign(body, secret: secret), body: body)
        case .checkout: SignedCallback(headers: headers + CheckoutSignatureScheme.sign(body, secret: secret, authorization: authorization), body: body)
        }
    }
}
