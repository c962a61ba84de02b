import Crypto
import Foundation
import TollgateCore

/// Signs a callback exactly as its provider would: the mirror of the verifying schemes.
///
/// Used by the provider simulator, `tollgate trigger` and the load generator, so everything that
/// sends a callback to the edge signs the same way. Checked byte for byte against the vectors the
/// providers' own SDKs produced (Tests/Fixtures/webhooks).
public struct WebhookSigner: Sendable {
    public let provider: String
    let secret: Secret
    /// Checkout.com: the fixed `Authorization` value the account is configured to send.
    let authorization: Secret?

    /// Nil for a provider this build cannot sign for.
    public init?(provider: String, secret: Secret, authorization: Secret? = nil) {
        guard SignatureSchemes.providers.contains(provider) else { return nil }
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
        var headers: [(name: String, value: String)] = [("Content-Type", "application/json")]
        var body = body
        switch provider {
        case "stripe":
            let mac = hmac(Array(secret.exposedValue.utf8), Array("\(timestamp).".utf8) + body)
            headers.append(("Stripe-Signature", "t=\(timestamp),v1=\(mac.hexEncoded)"))
        case "standard-webhooks":
            let text = secret.exposedValue
            let key = Encoding.base64Decode(text.hasPrefix("whsec_") ? Substring(text.dropFirst(6)) : Substring(text)) ?? []
            let mac = hmac(key, Array("\(id).\(timestamp).".utf8) + body)
            headers += [("webhook-id", id), ("webhook-timestamp", "\(timestamp)"), ("webhook-signature", "v1,\(Data(mac).base64EncodedString())")]
        case "adyen":
            body = Self.signAdyenItems(body, key: Encoding.hexDecode(secret.exposedValue) ?? [])
        case "paddle":
            let mac = hmac(Array(secret.exposedValue.utf8), Array("\(timestamp):".utf8) + body)
            headers.append(("Paddle-Signature", "ts=\(timestamp);h1=\(mac.hexEncoded)"))
        case "xsolla":
            var hasher = Insecure.SHA1()
            hasher.update(data: body)
            hasher.update(data: Array(secret.exposedValue.utf8))
            headers.append(("Authorization", "Signature \(hasher.finalize().hexEncoded)"))
        case "checkout":
            headers.append(("Cko-Signature", hmac(Array(secret.exposedValue.utf8), body).hexEncoded))
            if let authorization { headers.append(("Authorization", authorization.exposedValue)) }
        default:
            break
        }
        return SignedCallback(headers: headers, body: body)
    }

    /// The HMAC of one Adyen notification item, base64, as `additionalData.hmacSignature` holds it.
    public static func adyenItemSignature(_ item: [String: Any], key: [UInt8]) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Array(AdyenSignatureScheme.signingString(item).utf8), using: SymmetricKey(data: key))
        return Data(mac).base64EncodedString()
    }

    /// Puts an `hmacSignature` into every notification item of an Adyen body.
    static func signAdyenItems(_ body: [UInt8], key: [UInt8]) -> [UInt8] {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any],
              let wrappers = object["notificationItems"] as? [[String: Any]]
        else { return body }
        object["notificationItems"] = wrappers.map { wrapper -> [String: Any] in
            guard var item = wrapper["NotificationRequestItem"] as? [String: Any] else { return wrapper }
            var additional = item["additionalData"] as? [String: Any] ?? [:]
            additional["hmacSignature"] = adyenItemSignature(item, key: key)
            item["additionalData"] = additional
            return ["NotificationRequestItem": item]
        }
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data(body))
    }

    private func hmac(_ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }
}
