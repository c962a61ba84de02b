import TollgateCore

/// Builds a source's scheme from its configuration. Unknown providers have no scheme, and
/// configuration loading rejects them, so an unknown scheme can never verify anything.
public enum SignatureSchemes {
    /// The providers this build verifies.
    public static let providers: [String] = ["stripe", "standard-webhooks", "adyen", "paddle", "xsolla", "checkout"]

    /// The default timestamp tolerance of each provider that signs a timestamp.
    public static func defaultTolerance(for provider: String) -> Duration? {
        switch provider {
        case "stripe", "standard-webhooks": .seconds(300)
        case "paddle": .seconds(5)
        default: nil
        }
    }

    public static func make(provider: String, secrets: [Secret], tolerance: Duration? = nil, authorization: Secret? = nil) -> (any SignatureScheme)? {
        let tolerance = tolerance ?? defaultTolerance(for: provider) ?? .zero
        switch provider {
        case "stripe": return StripeSignatureScheme(secrets: secrets, tolerance: tolerance)
        case "standard-webhooks": return StandardWebhooksSignatureScheme(secrets: secrets, tolerance: tolerance)
        case "adyen": return AdyenSignatureScheme(secrets: secrets)
        case "paddle": return PaddleSignatureScheme(secrets: secrets, tolerance: tolerance)
        case "xsolla": return XsollaSignatureScheme(secrets: secrets)
        case "checkout": return CheckoutSignatureScheme(secrets: secrets, authorization: authorization)
        default: return nil
        }
    }
}
