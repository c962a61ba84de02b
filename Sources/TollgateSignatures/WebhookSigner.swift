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
    /// Apple: the key and chain that sign (a development chain; only Apple holds the real one),
    /// and the app and environment the source accepts.
    let appleIdentity: AppleSigningIdentity?
    let appleBundleID: String
    let appleEnvironment: String
    /// Google Play: the key that signs push tokens (a development key; nil: a forger's), the
    /// subscription's audience, service account and name the token and push carry, and the app.
    let google: (key: GooglePushSigningKey?, audience: String, email: String, subscription: String, packageName: String)?
    /// PayPal: the identity that signs (a development one; nil: a forger's), the webhook id the
    /// source is configured with, and the certificate URL the transmission names.
    let paypal: (identity: PayPalSigningIdentity?, webhookID: String, certificateURL: String)?

    public init(provider: Provider, secret: Secret, authorization: Secret? = nil) {
        self.provider = provider
        self.secret = secret
        self.authorization = authorization
        self.appleIdentity = nil
        self.appleBundleID = ""
        self.appleEnvironment = ""
        self.google = nil
        self.paypal = nil
    }

    /// Pushes as Pub/Sub does for a Google Play subscription: a token `key` signs (nil: a key no
    /// source trusts) for `audience` as the service account `email`; notifications without a
    /// `packageName` get `packageName`.
    public init(google key: GooglePushSigningKey?, audience: String, email: String, packageName: String,
                subscription: String = "projects/tollgate-dev/subscriptions/play") {
        self.provider = .googlePlay
        self.secret = Secret("")
        self.authorization = nil
        self.appleIdentity = nil
        self.appleBundleID = ""
        self.appleEnvironment = ""
        self.google = (key, audience, email, subscription, packageName)
        self.paypal = nil
    }

    /// Sends as PayPal does for the webhook `webhookID`: signed by `identity` (nil: a chain no
    /// source trusts), naming a certificate URL on PayPal's live or sandbox host.
    public init(paypal identity: PayPalSigningIdentity?, webhookID: String, sandbox: Bool) {
        self.provider = .paypal
        self.secret = Secret("")
        self.authorization = nil
        self.appleIdentity = nil
        self.appleBundleID = ""
        self.appleEnvironment = ""
        self.google = nil
        let host = sandbox ? "api.sandbox.paypal.com" : "api.paypal.com"
        self.paypal = (identity, webhookID, "https://\(host)/v1/notifications/certs/CERT-tollgate-development")
    }

    /// Signs as the App Store does for `bundleID` in `environment`, with `identity` (nil: a chain
    /// no source trusts, which is what a forger has).
    public init(apple identity: AppleSigningIdentity?, bundleID: String, environment: AppleSignedDataVerifier.Environment) {
        self.provider = .apple
        self.secret = Secret("")
        self.authorization = nil
        self.appleIdentity = identity
        self.appleBundleID = bundleID
        self.appleEnvironment = environment.rawValue
        self.google = nil
        self.paypal = nil
    }

    /// A signed callback: the headers to send and the body (Adyen signs inside the body).
    public struct SignedCallback: Sendable {
        public var headers: [(name: String, value: String)]
        public var body: [UInt8]

        public init(headers: [(name: String, value: String)], body: [UInt8]) {
            self.headers = headers
            self.body = body
        }
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
        // The body is the notification payload; nested transaction and renewal objects are signed in
        // place. Without an identity a throwaway chain signs: what a forger without Apple's key sends.
        case .apple:
            SignedCallback(headers: headers, body: AppleSignatureScheme.sign(body, identity: appleIdentity ?? Self.throwawayAppleIdentity,
                                                                     bundleID: appleBundleID, environment: appleEnvironment))
        // The body is the DeveloperNotification; the push wraps it with `id` as the message id.
        case .googlePlay:
            GooglePlaySignatureScheme.sign(body, messageID: id, key: google?.key, audience: google?.audience ?? "", email: google?.email ?? "",
                                           packageName: google?.packageName ?? "", subscription: google?.subscription ?? "", timestamp: timestamp)
        // The transmission id is the delivery's own, new on every send (PayPal's differs from the
        // event id, and a redelivery is a new transmission of the same event).
        case .paypal:
            PayPalSignatureScheme.sign(body, identity: paypal?.identity, webhookID: paypal?.webhookID ?? "", certificateURL: paypal?.certificateURL ?? "",
                                       id: "tx-\(id)-\(UInt64.random(in: 0...UInt64.max))", timestamp: timestamp)
        }
    }
}

extension WebhookSigner {
    /// A chain no source trusts (made once per process: making one costs three key pairs). Should
    /// swift-certificates fail to build one, a key with no chain at all is as untrusted.
    static let throwawayAppleIdentity: AppleSigningIdentity =
        (try? AppleSigningIdentity.development()) ?? AppleSigningIdentity(privateKey: .init(), chain: [])
}
