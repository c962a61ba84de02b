import TollgateCore

/// Each provider's signature scheme, built from a source's configuration. Configuration loading
/// accepts only known providers, so an unknown scheme can never verify anything.
extension Provider {
    /// The default timestamp tolerance of a provider that signs a timestamp; nil for one that does not.
    public var defaultTolerance: Duration? {
        switch self {
        case .stripe, .standardWebhooks: .seconds(300)
        case .paddle: .seconds(5)
        case .adyen, .xsolla, .checkout: nil
        }
    }

    /// Whether a captured callback goes stale (the provider signs a timestamp).
    public var signsTimestamp: Bool { defaultTolerance != nil }

    /// The scheme that verifies this provider's callbacks for one source.
    public func signatureScheme(secrets: [Secret], tolerance: Duration? = nil, authorization: Secret? = nil) -> any SignatureScheme {
        let tolerance = tolerance ?? defaultTolerance ?? .zero
        return switch self {
        case .stripe: StripeSignatureScheme(secrets: secrets, tolerance: tolerance)
        case .standardWebhooks: StandardWebhooksSignatureScheme(secrets: secrets, tolerance: tolerance)
        case .adyen: AdyenSignatureScheme(secrets: secrets)
        case .paddle: PaddleSignatureScheme(secrets: secrets, tolerance: tolerance)
        case .xsolla: XsollaSignatureScheme(secrets: secrets)
        case .checkout: CheckoutSignatureScheme(secrets: secrets, authorization: authorization)
        }
    }

    /// A well-formed secret that no source is configured with: what a forger signs with.
    public var forgerSecret: Secret {
        switch self {
        case .adyen: Secret(String(repeating: "0F", count: 32))  // Adyen keys are hex
        case .standardWebhooks: Secret("whsec_Zm9yZ2VkLWJ5LXRoZS1sb2FkLWdlbmVyYXRvcg==")  // base64 after the prefix
        case .stripe, .paddle, .xsolla, .checkout: Secret("forged-by-the-load-generator")
        }
    }
}
