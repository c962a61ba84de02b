import TollgateCore

/// Each provider's signature scheme, built from a source's configuration. Configuration loading
/// accepts only known providers, so an unknown scheme can never verify anything.
extension Provider {
    /// The default timestamp tolerance of a provider that signs a timestamp; nil for one that does not.
    public var defaultTolerance: Duration? {
        switch self {
        // PayPal's transmission time: its verifier holds it to 5 minutes either way.
        case .stripe, .standardWebhooks, .paypal: .seconds(300)
        case .paddle: .seconds(5)
        // Apple signs signedDate, but retries for days: the chain is checked at signedDate and
        // replays are duplicates of the notification UUID. Google's push token carries its own
        // expiry (checked with a minute's skew). PayPal's transmission time is checked by its
        // verifier (5 minutes either way).
        case .adyen, .xsolla, .checkout, .apple, .googlePlay: nil
        }
    }

    /// Whether a captured callback goes stale (the provider signs a timestamp).
    public var signsTimestamp: Bool { defaultTolerance != nil }

    /// The scheme that verifies this provider's callbacks for one source.
    /// `apple`, `google`: the trust settings of an Apple or Google Play source (nil: every
    /// callback fails closed).
    public func signatureScheme(secrets: [Secret], tolerance: Duration? = nil, authorization: Secret? = nil,
                                apple: AppleSignedDataVerifier? = nil,
                                google: (verifier: GooglePushTokenVerifier, packageNames: Set<String>)? = nil,
                                paypal: PayPalSignatureVerifier? = nil) -> any SignatureScheme {
        let tolerance = tolerance ?? defaultTolerance ?? .zero
        return switch self {
        case .stripe: StripeSignatureScheme(secrets: secrets, tolerance: tolerance)
        case .standardWebhooks: StandardWebhooksSignatureScheme(secrets: secrets, tolerance: tolerance)
        case .adyen: AdyenSignatureScheme(secrets: secrets)
        case .paddle: PaddleSignatureScheme(secrets: secrets, tolerance: tolerance)
        case .xsolla: XsollaSignatureScheme(secrets: secrets)
        case .checkout: CheckoutSignatureScheme(secrets: secrets, authorization: authorization)
        case .apple: AppleSignatureScheme(verifier: apple)
        case .googlePlay: GooglePlaySignatureScheme(verifier: google?.verifier, packageNames: google?.packageNames ?? [])
        case .paypal: PayPalSignatureScheme(verifier: paypal)
        }
    }

    /// Why `secret` can never verify this provider's callbacks, or nil. Checked when tenant files
    /// load, so a key that would answer every callback 401 stops the start with file:line:col. Each
    /// answer comes from the scheme's own reading of its keys, so the two cannot disagree. The
    /// message never repeats the secret.
    public func secretProblem(_ secret: Secret) -> String? {
        let text = secret.exposedValue
        if text.isEmpty { return "the secret is empty" }
        switch self {
        case .adyen:
            return AdyenSignatureScheme(secrets: [secret]).keys.isEmpty
                ? "an Adyen HMAC key is hexadecimal (as the Customer Area shows it: 64 hex digits); this one is not" : nil
        case .standardWebhooks:
            let scheme = StandardWebhooksSignatureScheme(secrets: [secret])
            return scheme.hmacKeys.isEmpty && scheme.publicKeys.isEmpty
                ? "a Standard Webhooks secret is base64 after 'whsec_' (or an Ed25519 public key after 'whpk_'); this one does not decode" : nil
        case .stripe:
            // A common paste error: the API key instead of the endpoint's signing secret.
            return ["sk_", "rk_", "pk_"].contains(where: text.hasPrefix)
                ? "this is a Stripe API key; the endpoint's signing secret starts with 'whsec_'" : nil
        // Apple, Google Play and PayPal sources hold no secret (configuration refuses `secrets` for them).
        case .paddle, .xsolla, .checkout, .apple, .googlePlay, .paypal:
            return nil
        }
    }

    /// A well-formed secret that no source is configured with: what a forger signs with.
    public var forgerSecret: Secret {
        switch self {
        case .adyen: Secret(String(repeating: "0F", count: 32))  // Adyen keys are hex
        case .standardWebhooks: Secret("whsec_Zm9yZ2VkLWJ5LXRoZS1sb2FkLWdlbmVyYXRvcg==")  // base64 after the prefix
        case .stripe, .paddle, .xsolla, .checkout, .apple, .googlePlay, .paypal: Secret("forged-by-the-load-generator")
        }
    }
}
