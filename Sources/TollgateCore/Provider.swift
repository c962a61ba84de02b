/// A payment provider Tollgate takes callbacks from; the raw value is the name tenant files use
/// (`provider: stripe`) and the `provider` label of metrics.
///
/// Each concern keeps one exhaustive `switch` over this type in one place: the signature scheme
/// and signer (`Provider+SignatureScheme`, TollgateSignatures), the normalizer
/// (`PaymentEventNormalizer`, TollgateOrders), the callback shapes (`ProviderCallback`,
/// TollgateProviderEvents) and the replies below. Adding a case makes the compiler name every
/// place that must learn the new provider.
public enum Provider: String, Sendable, CaseIterable, Hashable {
    case stripe
    case standardWebhooks = "standard-webhooks"
    case adyen
    case paddle
    case xsolla
    case checkout
    /// App Store Server Notifications V2: certificate-signed JWS, no shared secret.
    case apple
    /// Google Play real-time developer notifications, pushed by Cloud Pub/Sub with a Google-signed
    /// OIDC token: no shared secret.
    case googlePlay = "google-play"
    /// PayPal: RSA-signed transmissions under a certificate fetched from PayPal's hosts.
    case paypal
}

extension Provider: CustomStringConvertible {
    /// The configured name, so logs and messages read as tenant files do.
    public var description: String { rawValue }
}

/// A reply in a provider's own shape, where it documents one.
public struct ProviderReply: Sendable, Equatable {
    public var status: Int
    public var contentType: String?
    public var body: String

    public init(status: Int, contentType: String? = nil, body: String = "") {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

extension Provider {
    /// What the provider must hear once a callback is committed (or known as a duplicate); nil
    /// where the provider only reads the 2xx status (then a small JSON body is sent).
    public var acknowledgement: ProviderReply? {
        switch self {
        // Adyen: "[accepted]" in the body, or the notification is retried (Adyen webhook docs).
        case .adyen: ProviderReply(status: 200, contentType: "text/plain", body: "[accepted]")
        // Xsolla: 204 No Content (Xsolla webhooks docs).
        case .xsolla: ProviderReply(status: 204)
        // Apple: any 200 (App Store Server Notifications: "send HTTP 200").
        // Pub/Sub push: 102, 200, 201, 202 or 204 acknowledges the message. PayPal: any 2xx.
        case .stripe, .standardWebhooks, .paddle, .checkout, .apple, .googlePlay, .paypal: nil
        }
    }

    /// The reply to a callback whose signature did not verify; nil for the generic 401 problem.
    public var verificationFailure: ProviderReply? {
        switch self {
        // Xsolla documents this exact 400 body for a bad signature.
        case .xsolla: ProviderReply(status: 400, contentType: "application/json", body: #"{"error":{"code":"INVALID_SIGNATURE","message":"Invalid signature"}}"#)
        case .stripe, .standardWebhooks, .adyen, .paddle, .checkout, .apple, .googlePlay, .paypal: nil
        }
    }
}
