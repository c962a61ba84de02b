import Crypto
import Foundation
import TollgateCore
import TollgateSignatures

/// One target per provider scheme: header parsing and verification (`verify-<provider>`).
///
/// The first input byte picks the mode (bit 0), the rest is the request:
/// - raw (0): `Name: value` lines, a blank line, the body, verified as sent. Seeds are the SDK
///   vectors of Tests/Fixtures/webhooks, so mutations start from headers that parse and MACs that
///   match. Invariant: a request that verifies stops verifying when one byte is appended to its
///   body (the signature covers the body; Adyen's item HMACs need the body to parse).
/// - signed (1): the rest is a body, signed with the configured secret by `WebhookSigner` (as the
///   provider would), so the verifier always gets past the MAC into what follows it. Invariants:
///   the signed callback verifies (sign and verify agree), and with a byte appended it does not.
///   Checkout.com: bit 1 also configures (and sends) the fixed `Authorization` value.
enum SignatureVerificationTargets {
    /// The SDK vectors' signing time (`now` in Tests/Fixtures/webhooks/*.json): their timestamps are fresh at it.
    static let now = Date(timeIntervalSince1970: 1_795_607_437)

    /// The secrets the SDK vectors were signed with (Tests/Fixtures/webhooks), first one signs.
    static func secrets(_ provider: Provider) -> [Secret] {
        let values: [String] = switch provider {
        case .stripe: ["whsec_new_4a8b2c6d1e", "whsec_old_7d9c1f0e2b"]
        case .standardWebhooks: ["whsec_dG9sbGdhdGUtc3RhbmRhcmQtd2ViaG9va3Mta2V5LTE=", "whsec_dG9sbGdhdGUtc3RhbmRhcmQtd2ViaG9va3Mta2V5LTA=",
                                 "whpk_LDTEUqwWh0uJQu+KojOddOgJj8sX8zqpDwIdvofLJis="]
        case .adyen: ["DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00"]
        case .paddle: ["pdl_ntfset_01hxtollgate_new", "pdl_ntfset_01hxtollgate_old"]
        case .xsolla: ["xsolla-project-secret-key"]
        case .checkout: ["cko-signature-key-5f2e"]
        // Certificate-signed: see appleScheme. Google Play's token and PayPal's transmission are
        // fuzzed by verify-google-push and verify-paypal.
        case .apple, .googlePlay, .paypal: []
        }
        return values.map(Secret.init)
    }

    static let checkoutAuthorization = Secret("Bearer cko-fuzz-authorization")

    /// Apple: the signed mode signs with a development chain made at start; the raw mode's seeds
    /// are Apple's own test samples (Tests/Fixtures/provider-payloads/apple), under Apple's test
    /// root (testCA.der, base64 below), bundle com.example, Sandbox.
    static let appleIdentity = (try? AppleSigningIdentity.development()) ?? AppleSigningIdentity(privateKey: .init(), chain: [])
    static let appleTestRoot = Array(Data(base64Encoded:
        "MIIBgjCCASmgAwIBAgIJALUc5ALiH5pbMAoGCCqGSM49BAMDMDYxCzAJBgNVBAYTAlVTMRMwEQYDVQQIDApDYWxpZm9ybmlh" +
        "MRIwEAYDVQQHDAlDdXBlcnRpbm8wHhcNMjMwMTA1MjEzMDIyWhcNMzMwMTAyMjEzMDIyWjA2MQswCQYDVQQGEwJVUzETMBEG" +
        "A1UECAwKQ2FsaWZvcm5pYTESMBAGA1UEBwwJQ3VwZXJ0aW5vMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEc+/Bl+gospo6" +
        "tf9Z7io5tdKdrlN1YdVnqEhEDXDShzdAJPQijamXIMHf8xWWTa1zgoYTxOKpbuJtDplz1XriTaMgMB4wDAYDVR0TBAUwAwEB" +
        "/zAOBgNVHQ8BAf8EBAMCAQYwCgYIKoZIzj0EAwMDRwAwRAIgemWQXnMAdTad2JDJWng9U4uBBL5mA7WI05H7oH7c6iQCIHiR" +
        "qMjNfzUAyiu9h6rOU/K+iTR0I/3Y/NSWsXHX+acc"
    ) ?? Data())
    static let appleScheme = AppleSignatureScheme(
        verifier: try? AppleSignedDataVerifier(rootCertificates: [appleTestRoot, appleIdentity.rootDER], bundleID: "com.example", environment: .sandbox))

    /// Google Play's push token does not cover the body (the "changed body fails" invariant is not
    /// its), so its token is fuzzed by `verify-google-push` instead; PayPal's verifier by
    /// `verify-paypal` (CertificateCallbackTargets).
    static let all: [FuzzTarget] = Provider.allCases.filter { $0 != .googlePlay && $0 != .paypal }.map { provider in
        FuzzTarget("verify-\(provider.rawValue)", "\(provider.rawValue) signature header parsing and verification; sign/verify agree; a changed body fails") { bytes throws(FuzzInvariantViolation) in
            try verify(provider, bytes)
        }
    }

    static func verify(_ provider: Provider, _ bytes: [UInt8]) throws(FuzzInvariantViolation) {
        guard let mode = bytes.first else { return }
        let name = "verify-\(provider.rawValue)"
        let authorization = provider == .checkout && mode & 2 != 0 ? checkoutAuthorization : nil
        let secrets = secrets(provider)
        let scheme: any SignatureScheme = provider == .apple ? appleScheme : provider.signatureScheme(secrets: secrets, authorization: authorization)

        if mode & 1 == 0 {
            let (headers, body) = FuzzInput.request(bytes.dropFirst())
            guard outcome(scheme, headers, body) == nil else { return }
            guard outcome(scheme, headers, body + [0x78]) != nil else {
                throw FuzzInvariantViolation(target: name, message: "a request verifies with and without a byte appended to its body")
            }
            return
        }

        let signer = provider == .apple
            ? WebhookSigner(apple: appleIdentity, bundleID: "com.example", environment: .sandbox)
            : WebhookSigner(provider: provider, secret: secrets[0], authorization: authorization)
        let signed = signer.sign(body: Array(bytes.dropFirst()), timestamp: Int64(now.timeIntervalSince1970), id: "msg_fuzz")
        let failure = outcome(scheme, signed.headers, signed.body)
        if provider == .adyen {
            // Adyen signs inside the body; a body that is not a notification is left unsigned, and
            // a notification whose wrapper lacks its item is malformed (neither is a disagreement).
            if failure == .signatureMismatch || failure == .noSignature, signed.body != Array(bytes.dropFirst()) {
                throw FuzzInvariantViolation(target: name, message: "a notification Adyen's mirror signed fails with \(failure!)")
            }
        } else if provider == .apple {
            // Any body is signed, but only a notification (notificationType, notificationUUID)
            // for this app verifies: a body that is not one, or names another app, is refused
            // for that, never for its chain or signature.
            // A notification signed later than now (beyond the clock skew Apple is allowed) is
            // refused as its chain cannot be checked at that time.
            let future = failure == .untrustedCertificate && appleSignedInTheFuture(Array(bytes.dropFirst()))
            if let failure, failure != .malformedBody, failure != .wrongRecipient, !future {
                throw FuzzInvariantViolation(target: name, message: "a notification signed with a trusted chain fails with \(failure)")
            }
        } else if let failure {
            throw FuzzInvariantViolation(target: name, message: "a callback signed by WebhookSigner fails verification: \(failure)")
        }
        if outcome(scheme, signed.headers, signed.body + [0x78]) == nil {
            throw FuzzInvariantViolation(target: name, message: "a signed callback still verifies with a byte appended to its body")
        }
    }

    /// Whether the notification or the transaction in it says it was signed more than the allowed
    /// skew after now.
    /// Read with JSONDecoder, as the verifier reads the payload (JSONSerialization refuses some
    /// bodies JSONDecoder takes, such as invalid UTF-8 inside a string: the signer then signs the
    /// raw bytes, which the verifier still decodes).
    static func appleSignedInTheFuture(_ body: [UInt8]) -> Bool {
        struct Dated: Decodable { let signedDate: Double? }
        struct Outer: Decodable {
            struct Content: Decodable { let signedTransactionInfo: Dated? }
            let data: Content?
        }
        let limit = (Date().timeIntervalSince1970 + 300) * 1000
        let outer = try? JSONDecoder().decode(Dated.self, from: Data(body))
        let nested = try? JSONDecoder().decode(Outer.self, from: Data(body))
        return [outer?.signedDate, nested?.data?.signedTransactionInfo?.signedDate].contains { ($0 ?? 0) > limit }
    }

    /// nil when the request verifies, else why not.
    static func outcome(_ scheme: any SignatureScheme, _ headers: [(name: String, value: String)], _ body: [UInt8]) -> VerificationFailure? {
        let request = SignedRequest(headers: headers, body: body)
        return runBlocking { () async -> VerificationFailure? in
            do throws(VerificationFailure) {
                try await scheme.verify(request, now: now)
                return nil
            } catch {
                return error
            }
        }
    }
}
