import _CryptoExtras
import Crypto
import Foundation
import NIOConcurrencyHelpers
import SwiftASN1
import Testing
import TollgateCore
import X509
@testable import TollgateSignatures

/// PayPal webhooks: RSA-SHA256 over id|time|webhook id|crc32(body) with the key of a certificate
/// fetched only from PayPal's hosts, chained to a configured root and cached by URL. The root and
/// PayPal's leaf are made here (as DigiCert and PayPal would hold them).
@Suite struct PayPalSignatureVerifierTests {
    static let webhookID = "1JE4291016473214C"
    static let certificateURL = "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"
    static let now = Date(timeIntervalSince1970: 1_780_000_000)
    static let time = "2026-05-28T20:26:40Z"  // now, as PayPal writes it

    /// A root and a leaf under it for `commonName`, the leaf's RSA key, and the PEM PayPal serves.
    struct Chain {
        let rootDER: [UInt8]
        let leafKey: _RSA.Signing.PrivateKey
        let pem: String

        init(commonName: String = "messageverificationcerts.paypal.com", validity: ClosedRange<Date> = Date(timeIntervalSince1970: 1_700_000_000)...Date(timeIntervalSince1970: 1_900_000_000)) throws {
            let identity = try PayPalSigningIdentity.development(sandbox: false, commonName: commonName, leafValidity: validity)
            rootDER = identity.rootDER
            leafKey = identity.privateKey
            pem = identity.certificatesPEM
        }

        /// The headers PayPal sends for `body`.
        func headers(_ body: [UInt8], id: String = "103e3700-8b0d-11e4-9191-a5f7e5d2b5e4", time: String = PayPalSignatureVerifierTests.time,
                     webhookID: String = PayPalSignatureVerifierTests.webhookID, url: String = PayPalSignatureVerifierTests.certificateURL) throws -> [(name: String, value: String)] {
            let signed = PayPalSignatureVerifier.signedString(transmissionID: id, time: time, webhookID: webhookID, body: body)
            let signature = try leafKey.signature(for: Data(signed.utf8), padding: .insecurePKCS1v1_5)
            return [("PAYPAL-TRANSMISSION-ID", id), ("PAYPAL-TRANSMISSION-TIME", time), ("PAYPAL-TRANSMISSION-SIG", signature.rawRepresentation.base64EncodedString()),
                    ("PAYPAL-CERT-URL", url), ("PAYPAL-AUTH-ALGO", "SHA256withRSA"), ("Content-Type", "application/json")]
        }
    }

    /// PayPal's side: what its certificate URL serves, and every URL asked for.
    final class PayPal: Sendable {
        let served = NIOLockedValueBox<[UInt8]>([])
        let asked = NIOLockedValueBox<[String]>([])
        /// The certificate cache's clock (its fetch budget is per minute).
        let clock = NIOLockedValueBox(PayPalSignatureVerifierTests.now)
        let certificates: PayPalCertificates
        let verifier: PayPalSignatureVerifier

        init(serving chain: Chain, trusting roots: [[UInt8]]? = nil, fetchTakes: Duration = .milliseconds(20), fetchTimeout: Duration = .seconds(10)) throws {
            served.withLockedValue { $0 = Array(chain.pem.utf8) }
            let served = self.served, asked = self.asked, clock = self.clock
            certificates = try PayPalCertificates(roots: roots ?? [chain.rootDER], fetchTimeout: fetchTimeout, now: { clock.withLockedValue { $0 } }) { url in
                asked.withLockedValue { $0.append(url.absoluteString) }
                try await Task.sleep(for: fetchTakes)  // a network's worth: concurrent webhooks overlap the fetch
                return served.withLockedValue { $0 }
            }
            verifier = PayPalSignatureVerifier(webhookID: PayPalSignatureVerifierTests.webhookID, certificates: certificates)
        }

        /// A forger's webhooks naming `count` fresh certificate URLs (`CERT-forged-<tag><n>`, each
        /// served PayPal's chain): each costs a fetch within the budget, and none verifies.
        func refuseForged(_ count: Int, from forger: Chain, tag: String = "") async throws {
            for index in 0..<count {
                let url = "https://api.paypal.com/v1/notifications/certs/CERT-forged-\(tag)\(index)"
                #expect(await failure(try forger.headers(PayPalSignatureVerifierTests.body, url: url), PayPalSignatureVerifierTests.body) != nil)
            }
        }

        func failure(_ headers: [(name: String, value: String)], _ body: [UInt8], now: Date = PayPalSignatureVerifierTests.now) async -> PayPalVerificationFailure? {
            do throws(PayPalVerificationFailure) {
                try await verifier.verify(SignedRequest(headers: headers, body: body), now: now)
                return nil
            } catch {
                return error
            }
        }
    }

    static let body = Array(#"{"id":"WH-2WR32451HC0233532-67976317FL4543714","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"id":"42311647XV020574X"}}"#.utf8)

    @Test func crc32IsZlibs() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
    }

    @Test func aGenuineWebhookVerifiesAndAThousandMakeOneFetch() async throws {
        let chain = try Chain()
        let paypal = try PayPal(serving: chain)
        let headers = try chain.headers(Self.body)
        let failures = await withTaskGroup(of: PayPalVerificationFailure?.self) { group in
            for _ in 0..<1000 { group.addTask { await paypal.failure(headers, Self.body) } }
            var all: [PayPalVerificationFailure?] = []
            for await failure in group { all.append(failure) }
            return all
        }
        #expect(failures.count == 1000 && failures.allSatisfy { $0 == nil }, "\(Set(failures.map { $0?.rawValue ?? "ok" }))")
        #expect(paypal.asked.withLockedValue { $0 } == [Self.certificateURL], "one fetch for a thousand webhooks")
        #expect(await paypal.certificates.fetches == 1)
    }

    /// `prefix` and four bytes that give it the CRC-32 of `target` (CRC-32 is linear: the four
    /// bytes are solved backwards through the table, as a forger would).
    static func matchingCRC(_ prefix: [UInt8], _ target: [UInt8]) -> [UInt8] {
        let table = CRC32.table
        var state = CRC32.checksum(target) ^ 0xFFFF_FFFF
        for _ in 0..<4 {
            let index = table.firstIndex { $0 >> 24 == state >> 24 }!
            state = ((state ^ table[index]) << 8) | UInt32(index)
        }
        let bytes = state ^ (CRC32.checksum(prefix) ^ 0xFFFF_FFFF)
        return prefix + (0..<4).map { UInt8(truncatingIfNeeded: bytes >> (8 * $0)) }
    }

    /// The signature covers the body only through its CRC-32: a body made to match the CRC of a
    /// genuine transmission, sent under its headers, must not pass.
    @Test func aBodyForgedToMatchTheCRCOfAGenuineTransmissionIsRefused() async throws {
        let chain = try Chain()
        let paypal = try PayPal(serving: chain)
        let headers = try chain.headers(Self.body)
        #expect(await paypal.failure(headers, Self.body) == nil)
        let forged = Self.matchingCRC(Array(#"{"id":"WH-FORGED","event_type":"PAYMENT.CAPTURE.COMPLETED","resource":{"custom_id":"ord_attacker","pad":""#.utf8), Self.body)
        #expect(CRC32.checksum(forged) == CRC32.checksum(Self.body) && forged != Self.body, "the forger's body matches the CRC")
        #expect(await paypal.failure(headers, forged) == .replayedTransmission)
        #expect(await paypal.failure(headers, Self.body) == nil, "the genuine transmission again is a duplicate, not a forgery")
    }

    @Test func aCertificateURLOffPayPalsHostsIsRefusedWithoutARequest() async throws {
        let chain = try Chain()
        let paypal = try PayPal(serving: chain)
        for url in [
            "http://api.paypal.com/v1/notifications/certs/CERT-1", "https://evil.example/v1/notifications/certs/CERT-1",
            "https://api.paypal.com.evil.example/v1/notifications/certs/CERT-1", "https://api.paypal.com:8443/v1/notifications/certs/CERT-1",
            "https://user@api.paypal.com/v1/notifications/certs/CERT-1", "https://api.paypal.com/v1/oauth2/token",
            "https://api.paypal.com/v1/notifications/certs/../../oauth2/token", "https://169.254.169.254/v1/notifications/certs/CERT-1",
            "file:///etc/passwd", "not a url", "https://api.paypal.com/v1/notifications/certs/CERT-1?n=2",
            "https://api.paypal.com/v1/notifications/certs/CERT-1#x", "https://api%2Epaypal.com/v1/notifications/certs/CERT-1",
            "https://api.paypal.com./v1/notifications/certs/CERT-1", "https://api.paypal.com/v1/notifications/certs/CERT-1/../x",
            "https://api.paypal.com/v1/notifications/certs/CERT-%31", "https://api.paypal.com\\@evil.example/v1/notifications/certs/CERT-1",
            "https://api.sandbox.paypal.com/v1/notifications/certs/CERT-1", "https://api.paypal.com/v1/notifications/certs/",
        ] {
            #expect(await paypal.failure(try chain.headers(Self.body, url: url), Self.body) == .certificateURLRefused, "\(url)")
        }
        #expect(paypal.asked.withLockedValue { $0 }.isEmpty, "no request for any of them")
        // Spellings of one URL are one certificate: one fetch.
        for url in [Self.certificateURL, Self.certificateURL.replacingOccurrences(of: "api.paypal.com", with: "API.PayPal.com"),
                    Self.certificateURL.replacingOccurrences(of: "api.paypal.com", with: "api.paypal.com:443")] {
            #expect(await paypal.failure(try chain.headers(Self.body, url: url), Self.body) == nil, "\(url)")
        }
        #expect(paypal.asked.withLockedValue { $0 } == [Self.certificateURL])
    }

    @Test func aChangedBodyOrAnotherWebhookIDIsRefused() async throws {
        let chain = try Chain()
        let paypal = try PayPal(serving: chain)
        var tampered = Self.body
        tampered[tampered.count - 3] = UInt8(ascii: "Y")
        #expect(await paypal.failure(try chain.headers(Self.body), tampered) == .signatureMismatch, "the CRC of the body is signed")
        #expect(await paypal.failure(try chain.headers(Self.body, webhookID: "8PT597110X687430LKGECATA"), Self.body) == .signatureMismatch,
                "signed for another PayPal webhook")
        var headers = try chain.headers(Self.body)
        headers[1].value = "2026-05-28T20:26:41Z"
        #expect(await paypal.failure(headers, Self.body) == .signatureMismatch, "the transmission time is signed")
    }

    @Test func aCertificateNotChainingToTheRootOrNotPayPalsIsRefused() async throws {
        let chain = try Chain(), stranger = try Chain()
        let paypal = try PayPal(serving: chain, trusting: [stranger.rootDER])
        #expect(await paypal.failure(try chain.headers(Self.body), Self.body) == .untrustedCertificate)
        // Under the same root, but not PayPal's message-verification certificate.
        for name in ["paypal.com.evil.example", "www.paypal.com", "messageverificationcerts.sandbox.paypal.com"] {
            let lookalike = try Chain(commonName: name)
            #expect(await (try PayPal(serving: lookalike)).failure(try lookalike.headers(Self.body), Self.body) == .untrustedCertificate, "\(name)")
        }
        let expired = try Chain(validity: Date(timeIntervalSince1970: 1_700_000_000)...Date(timeIntervalSince1970: 1_750_000_000))
        #expect(await (try PayPal(serving: expired)).failure(try expired.headers(Self.body), Self.body) == .untrustedCertificate)
    }

    @Test func staleMissingAndMalformedHeadersAreRefused() async throws {
        let chain = try Chain()
        let paypal = try PayPal(serving: chain)
        let headers = try chain.headers(Self.body)
        #expect(await paypal.failure(headers, Self.body, now: Self.now.addingTimeInterval(3600)) == .stale, "a captured webhook replayed an hour on")
        for name in ["PAYPAL-TRANSMISSION-ID", "PAYPAL-TRANSMISSION-TIME", "PAYPAL-TRANSMISSION-SIG", "PAYPAL-CERT-URL", "PAYPAL-AUTH-ALGO"] {
            #expect(await paypal.failure(headers.filter { $0.name != name }, Self.body) == .missingHeader, "\(name)")
        }
        #expect(await paypal.failure(headers.map { $0.name == "PAYPAL-AUTH-ALGO" ? ($0.name, "SHA1withRSA") : $0 }, Self.body) == .unsupportedAlgorithm)
        #expect(await paypal.failure(headers.map { $0.name == "PAYPAL-TRANSMISSION-SIG" ? ($0.name, "%%%") : $0 }, Self.body) == .malformedHeader)
        #expect(await paypal.failure(headers.map { $0.name == "PAYPAL-TRANSMISSION-TIME" ? ($0.name, "yesterday") : $0 }, Self.body) == .malformedHeader)
        #expect(await paypal.failure(headers.map { $0.name == "PAYPAL-TRANSMISSION-ID" ? ($0.name, "a|b") : $0 }, Self.body) == .malformedHeader)
        #expect(paypal.asked.withLockedValue { $0 }.isEmpty, "nothing fetched for a refused header")
    }

    /// Every fresh certificate URL would cost a fetch: a forger sending one per request gets a
    /// few a minute, and the certificate in use is never evicted.
    @Test func freshCertificateURLsCostAFewFetchesAMinuteAndNeverEvictTheOneInUse() async throws {
        let chain = try Chain(), forger = try Chain()
        let paypal = try PayPal(serving: chain, fetchTakes: .zero)
        #expect(await paypal.failure(try chain.headers(Self.body), Self.body) == nil)
        try await paypal.refuseForged(40, from: forger)
        let fetches = await paypal.certificates.fetches
        #expect(fetches <= 10, "at most ten new URLs a minute: \(fetches)")
        #expect(await paypal.failure(try chain.headers(Self.body), Self.body) == nil, "the genuine certificate is still cached")
        #expect(paypal.asked.withLockedValue { $0 }.filter { $0 == Self.certificateURL }.count == 1)
    }

    /// The verify-paypal fuzzer's find: forged URLs, a few a minute for minutes on end, filled the
    /// cache with chains PayPal does serve and evicted the one in use; its next webhook then found
    /// the fetch budget spent. A chain a signature verified under is evicted last.
    @Test func forgedURLsMinuteAfterMinuteNeverEvictTheCertificateInUse() async throws {
        let chain = try Chain(), forger = try Chain()
        let paypal = try PayPal(serving: chain, fetchTakes: .zero)
        #expect(await paypal.failure(try chain.headers(Self.body), Self.body) == nil)
        for minute in 1...4 {
            paypal.clock.withLockedValue { $0 = Self.now.addingTimeInterval(Double(minute) * 61) }
            try await paypal.refuseForged(12, from: forger, tag: "\(minute)-")
        }
        #expect(await paypal.certificates.fetches == 41, "ten forged URLs fetched a minute, each cached, beyond the cache's 16")
        let headers = try chain.headers(Self.body, id: "5b2f7a10-8b0d-11e4-9191-a5f7e5d2b5e4")
        #expect(await paypal.failure(headers, Self.body) == nil, "the genuine certificate is still cached")
        #expect(paypal.asked.withLockedValue { $0 }.filter { $0 == Self.certificateURL }.count == 1)
    }

    /// With the budget spent, a genuine webhook naming a URL not cached (the same key under
    /// PayPal's other host) verifies under the chain already proven; a forged one does not.
    @Test func withTheBudgetSpentAGenuineSignatureVerifiesUnderAProvenChain() async throws {
        let chain = try Chain(), forger = try Chain()
        let paypal = try PayPal(serving: chain, fetchTakes: .zero)
        #expect(await paypal.failure(try chain.headers(Self.body), Self.body) == nil)
        try await paypal.refuseForged(12, from: forger)
        #expect(await paypal.certificates.fetches == 10)
        let otherHost = "https://api-m.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"
        #expect(await paypal.failure(try chain.headers(Self.body, id: "6c3f7a10-8b0d-11e4-9191-a5f7e5d2b5e4", url: otherHost), Self.body) == nil)
        let forged = try forger.headers(Self.body, id: "7d4f7a10-8b0d-11e4-9191-a5f7e5d2b5e4", url: otherHost)
        #expect(await paypal.failure(forged, Self.body) == .certificateUnavailable, "a forged signature matches no proven chain")
        #expect(!paypal.asked.withLockedValue { $0 }.contains(otherHost), "nothing fetched past the budget")
        #expect(await paypal.certificates.fetches == 10)
    }

    /// PayPal not answering for a URL not cached yet: a genuine signature verifies under the chain
    /// already proven, a forged one does not.
    @Test func whenPayPalCannotServeAURLAGenuineSignatureVerifiesUnderAProvenChain() async throws {
        let chain = try Chain(), forger = try Chain()
        let paypal = try PayPal(serving: chain, fetchTakes: .zero)
        #expect(await paypal.failure(try chain.headers(Self.body), Self.body) == nil)
        paypal.served.withLockedValue { $0 = Array("<html>503</html>".utf8) }
        let otherHost = "https://api-m.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"
        #expect(await paypal.failure(try chain.headers(Self.body, id: "9f6f7a10-8b0d-11e4-9191-a5f7e5d2b5e4", url: otherHost), Self.body) == nil)
        let forged = try forger.headers(Self.body, id: "a07f7a10-8b0d-11e4-9191-a5f7e5d2b5e4", url: otherHost)
        #expect(await paypal.failure(forged, Self.body) == .certificateUnavailable)
        #expect(await paypal.certificates.fetches == 3, "each webhook naming the URL tried it once")
    }

    /// Two keys proven (PayPal's current one and, mid-rotation, its next): with the budget spent,
    /// a signature by either verifies through the fallback, not only by the last proven.
    @Test func withTwoKeysProvenEitherVerifiesThroughTheFallback() async throws {
        let current = try Chain(), next = try Chain(), forger = try Chain()
        let paypal = try PayPal(serving: current, trusting: [current.rootDER, next.rootDER], fetchTakes: .zero)
        #expect(await paypal.failure(try current.headers(Self.body), Self.body) == nil)
        paypal.served.withLockedValue { $0 = Array(next.pem.utf8) }
        let nextURL = "https://api.paypal.com/v1/notifications/certs/CERT-2a7f3c10-next"
        #expect(await paypal.failure(try next.headers(Self.body, id: "b17f7a10-8b0d-11e4-9191-a5f7e5d2b5e4", url: nextURL), Self.body) == nil)
        try await paypal.refuseForged(8, from: forger)
        #expect(await paypal.certificates.fetches == 10, "the budget spent")
        let otherHost = "https://api-m.paypal.com/v1/notifications/certs/CERT-2a7f3c10-next"
        for (signer, id) in [(current, "c28f7a10-8b0d-11e4-9191-a5f7e5d2b5e4"), (next, "d39f7a10-8b0d-11e4-9191-a5f7e5d2b5e4")] {
            #expect(await paypal.failure(try signer.headers(Self.body, id: id, url: otherHost), Self.body) == nil)
        }
        #expect(await paypal.certificates.fetches == 10)
    }

    /// One certificate proven under many URLs (a genuine transmission replayed under fresh URLs,
    /// each of which PayPal would serve here) keeps one slot: URLs of one key cannot crowd the
    /// cache and push out another key's chain.
    @Test func oneCertificateProvenUnderManyURLsKeepsOneSlot() async throws {
        let chain = try Chain()
        let paypal = try PayPal(serving: chain, fetchTakes: .zero)
        for minute in 0..<2 {
            paypal.clock.withLockedValue { $0 = Self.now.addingTimeInterval(Double(minute) * 61) }
            for index in 0..<10 {
                let url = "https://api.paypal.com/v1/notifications/certs/CERT-replayed-\(minute)-\(index)"
                #expect(await paypal.failure(try chain.headers(Self.body, url: url), Self.body) == nil, "a duplicate, verified")
            }
        }
        #expect(await paypal.certificates.fetches == 20)
        #expect(await paypal.certificates.cachedURLs == ["https://api.paypal.com/v1/notifications/certs/CERT-replayed-1-9"])
    }

    /// The proven chain must still chain to a root at the transmission time: a signature made by a
    /// key whose certificate has expired does not verify through the fallback.
    @Test func aProvenChainExpiredAtTheTransmissionTimeIsNotUsed() async throws {
        let chain = try Chain(validity: Date(timeIntervalSince1970: 1_700_000_000)...Self.now.addingTimeInterval(100))
        let forger = try Chain()
        let paypal = try PayPal(serving: chain, fetchTakes: .zero)
        #expect(await paypal.failure(try chain.headers(Self.body), Self.body) == nil)
        try await paypal.refuseForged(10, from: forger)
        let later = Self.now.addingTimeInterval(200)
        let otherHost = "https://api-m.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-1d93a270"
        let headers = try chain.headers(Self.body, id: "8e5f7a10-8b0d-11e4-9191-a5f7e5d2b5e4", time: ISO8601Timestamp.format(later), url: otherHost)
        #expect(await paypal.failure(headers, Self.body, now: later) == .certificateUnavailable)
    }

    @Test func aFetchThatNeverAnswersFailsAtItsDeadline() async throws {
        let chain = try Chain()
        let paypal = try PayPal(serving: chain, fetchTakes: .seconds(30), fetchTimeout: .milliseconds(200))
        let start = ContinuousClock.now
        #expect(await paypal.failure(try chain.headers(Self.body), Self.body) == .certificateUnavailable)
        #expect(ContinuousClock.now - start < .seconds(10), "answered at the fetch deadline, not when the fetch gives up")
    }

    @Test func anUnavailableCertificateIsRetriedOnTheNextWebhook() async throws {
        let chain = try Chain()
        let paypal = try PayPal(serving: chain)
        paypal.served.withLockedValue { $0 = Array("<html>503</html>".utf8) }
        #expect(await paypal.failure(try chain.headers(Self.body), Self.body) == .certificateUnavailable)
        paypal.served.withLockedValue { $0 = Array(chain.pem.utf8) }
        #expect(await paypal.failure(try chain.headers(Self.body), Self.body) == nil)
        #expect(await paypal.certificates.fetches == 2)
    }
}
