import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Testing
import TollgateCheckout
import TollgateConfig
import TollgateCore
import TollgateOrders
import TollgateProviderEvents
import TollgateProviderSim
import TollgateRedisStores
import TollgateSignatures
import TollgateTelemetry
import TollgateTestSupport

/// Issue 14, "secrets never leak": the real edge, holding a distinctive value for every secret it
/// knows, is driven through every route and failure path with its whole log at trace level through
/// the production JSON handler; no secret, in any encoding, may appear in a log line, a response
/// (status line, headers, body) or the `/metrics` page.
@Suite(.serialized) struct SecretsNeverLeakTests {
    static let tenant = "vault"

    /// Every secret the edge is given. Each is a string that occurs nowhere else, so finding any
    /// part of it anywhere is a leak.
    enum Known {
        static let standardWebhooksRawKey = "std-webhooks-canary-raw-key-Fe5Lu012"
        static let webhook: [Provider: String] = [
            .stripe: "whsec_stripeCanarySigning8Hd2Kq7Vx",
            // 32 bytes in hex, as Adyen's Customer Area shows the HMAC key.
            .adyen: "CA9C467FC14816E01C7F7F366D309F7C4CEF32CC0EE8BF904915DF0F47A8856F",
            .paddle: "pdl_ntfset_paddleCanary3Rz9Wm1Tq",
            .xsolla: "xsolla-canary-project-key-4Gp8Ls2N",
            .checkout: "cko-canary-signature-key-7Yb3Jd9F",
            .standardWebhooks: "whsec_" + Data(standardWebhooksRawKey.utf8).base64EncodedString(),
        ]
        /// Checkout.com's fixed `Authorization` value.
        static let checkoutAuthorization = "cko-canary-authz-5Mx1Qw6ZpL3"
        static let playerTokenKey = "ptk-canary-hs256-Zr8Wq2Xn5Tb1Ue4KcPq7Hd"
        static let paymentsKey = "sk_test_paymentsCanaryKey4Hn9Rt2Vb"
        /// The test Postgres trusts local connections, so this only travels through configuration and logs.
        static let postgresPassword = "pg-canary-password-Jx3Kd8Wm"
        static let redisPassword = "redis-canary-password-Yt6Pb1Qc"
        /// What Redis is switched to mid-test, so the edge's reconnects fail authentication.
        static let rotatedRedisPassword = "redis-rotated-canary-Nf2Vh7Ls"

        static var all: [(name: String, value: String)] {
            webhook.map { ("\($0.key.rawValue) webhook secret", $0.value) } + [
                ("standard-webhooks raw key", standardWebhooksRawKey),
                ("checkout.com authorization", checkoutAuthorization), ("player token key", playerTokenKey),
                ("payments secret key", paymentsKey), ("postgres password", postgresPassword),
                ("redis password", redisPassword), ("rotated redis password", rotatedRedisPassword),
                // The Apple source's development signing identity: its private key.
                ("apple signing key", Data(ProviderLifecycle.appleIdentity.privateKey.rawRepresentation).base64EncodedString()),
            ]
        }
    }

    // MARK: - The edge, driven through every path

    @Test func noSecretReachesALogLineAResponseOrTheMetricsOnAnyRouteOrFailurePath() async throws {
        let transcript = Transcript()
        let certificates = try await TestCertificates.make()
        let redis = try RedisServerProcess()
        try await redis.start()
        _ = try await redisCLI(redis, password: nil, ["CONFIG", "SET", "requirepass", Known.redisPassword])
        // Postgres through a proxy the test can cut, so its failure paths run too.
        let postgres = try #require(URLComponents(string: TestEnvironment.postgresURL))
        let postgresProxy = TCPProxy(upstreamHost: postgres.host ?? "127.0.0.1", upstreamPort: postgres.port ?? 5432)
        try await postgresProxy.start()

        let simulator = try await Self.startSimulator(transcript: transcript, caPath: certificates.caPath)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await simulator.run() }
            defer { group.cancelAll() }
            try await TestEnvironment.waitUntil { simulator.boundPort.withLockedValue { $0 } != nil }
            let simulatorURL = "http://127.0.0.1:\(simulator.boundPort.withLockedValue { $0 }!)"

            let rulesDirectory = try TestEnvironment.makeTemporaryDirectory("tollgate-leak-rules")
            try Self.rules.write(to: rulesDirectory.appendingPathComponent("\(Self.tenant).yaml"), atomically: true, encoding: .utf8)
            let catalogDirectory = try TestEnvironment.makeTemporaryDirectory("tollgate-leak-catalog")
            try CheckoutTests.shopCatalog.write(to: catalogDirectory.appendingPathComponent("\(Self.tenant).yaml"), atomically: true, encoding: .utf8)
            defer {
                try? FileManager.default.removeItem(at: rulesDirectory)
                try? FileManager.default.removeItem(at: catalogDirectory)
            }
            let rules = try RulesStore(directory: rulesDirectory.path, logger: transcript.logger(label: "test.rules"))
            let products = try CatalogStore(directory: catalogDirectory.path, logger: transcript.logger(label: "test.catalog"))

            try await EdgeHarness.withServer(
                certificates: certificates,
                redisURL: "redis://:\(Known.redisPassword)@127.0.0.1:\(redis.port)/0",
                bodyLimit: Self.bodyLimit,
                tenants: Self.tenants(paymentsURL: simulatorURL),
                rules: rules,
                catalog: products,
                postgresURL: Self.postgresURL(port: postgresProxy.port, password: Known.postgresPassword),
                logger: transcript.logger(label: "test.edge")
            ) { edge in
                simulator.deliverCallbacks(to: edge.edge + "/v1/webhooks/{tenant}/{source}")
                try await EdgeHarness.withClient(trusting: certificates.caPath) { client in
                    let driver = Driver(client: client, edge: edge, transcript: transcript)
                    for provider in Provider.allCases { try await driver.webhookPaths(provider) }
                    try await driver.webhookRoutePaths()
                    // The positive control: a value the access log does write (the path) is found by the scan below.
                    try await driver.send("planted probe", driver.webhookURL(Self.plantedValue), method: .POST, expect: 404)
                    try await driver.checkoutPaths(simulator: simulator)
                    try await driver.adminPaths(rulesDirectory: rulesDirectory, catalogDirectory: catalogDirectory)
                    try await driver.redisAuthenticationFailurePaths(redis: redis)
                    try await driver.postgresUnreachablePaths(proxy: postgresProxy)
                    // Last, so it counts every failure above.
                    try await driver.send("admin metrics", edge.admin + "/metrics", expect: 200)
                }
            }
        }
        try await redis.stop()
        await postgresProxy.stop()

        // The capture saw what matters: enough lines, the verbose levels, and the failures logged.
        let lines = transcript.logLines
        #expect(lines.count >= 200, "\(lines.count) log lines")
        #expect(lines.contains { $0.contains(#""level":"trace""#) } && lines.contains { $0.contains(#""level":"debug""#) },
                "lines at trace and debug level")
        for reason in ["missing_header", "signature_mismatch", "timestamp_too_old", "malformed_body"] {
            #expect(lines.contains { $0.contains("webhook verification failed") && $0.contains(reason) }, "a \(reason) failure was logged")
        }
        #expect(lines.contains { $0.contains("reload rejected") }, "a rejected reload was logged")
        #expect(lines.contains { $0.contains("redis connect failed") }, "the failed Redis authentication was logged")
        #expect(lines.contains { $0.contains("webhook commit failed") }, "the Postgres failure was logged")
        let exposures = transcript.exposures
        #expect(exposures.count >= 90, "\(exposures.count) responses recorded")
        #expect(exposures.contains { $0.place == "admin metrics" && $0.text.contains("tollgate_webhook_verification_failures_total") })

        #expect(!Self.leaks(in: lines.map { ("log line", $0) }, secrets: [("planted value", Self.plantedValue)]).isEmpty,
                "the scan finds a value that was logged")
        // Player session tokens are credentials too: no Authorization value and no JWT ("eyJ" is `{"` in base64url).
        #expect(!lines.contains { $0.contains("Bearer ") || $0.contains("eyJ") }, "no player token in the log")
        let leaks = Self.leaks(in: lines.map { ("log line", $0) } + exposures.map { ($0.place, $0.text) })
        #expect(leaks.isEmpty, "\(leaks.count) leak(s):\n\(leaks.prefix(10).joined(separator: "\n"))")
    }

    // MARK: - Configuration errors

    /// A tenant file whose secret is refused names the file, line and reason, never the secret.
    @Test func aRefusedTenantSecretIsNotRepeatedInTheConfigurationError() throws {
        let pem = "not-a-pem-canary-es256-key-Bq5Ws8Kd"
        let shortKey = "short-hs256-canary-Ug3"
        let refused: [(file: String, secret: String, reason: String)] = [
            (Self.tenantFile(provider: "adyen", secret: "ZZ-canary-adyen-not-hex-Lm4Pv8Rt"), "ZZ-canary-adyen-not-hex-Lm4Pv8Rt", "hexadecimal"),
            (Self.tenantFile(provider: "standard-webhooks", secret: "whsec_!!canary-not-base64-Hq2Xc7!!"), "whsec_!!canary-not-base64-Hq2Xc7!!", "base64"),
            (Self.tenantFile(provider: "stripe", secret: "sk_live_canaryApiKeyPastedAsWhsec9Tn"), "sk_live_canaryApiKeyPastedAsWhsec9Tn", "Stripe API key"),
            (Self.checkoutTenantFile(tokenKey: "hs256: \(shortKey)"), shortKey, "32 bytes"),
            (Self.checkoutTenantFile(tokenKey: "es256: \(pem)"), pem, "PEM public key"),
            // A YAML syntax error on the secret's own line: the parser's message quotes that line.
            ("tenant: vault\nsources:\n  stripe:\n    provider: stripe\n    secrets: [ \"whsec_canaryOnABrokenLine6Jw\" \"x\" ]\n",
             "whsec_canaryOnABrokenLine6Jw", "invalid YAML"),
        ]
        for (file, secret, reason) in refused {
            let directory = try TestEnvironment.makeTemporaryDirectory("tollgate-leak-tenants")
            defer { try? FileManager.default.removeItem(at: directory) }
            try file.write(to: directory.appendingPathComponent("vault.yaml"), atomically: true, encoding: .utf8)
            do {
                _ = try TenantCatalog.load(directory: directory.path, environment: [:])
                Issue.record("a tenant file with a bad secret loaded (\(reason))")
            } catch {
                let message = "\(error)"
                #expect(message.contains("vault.yaml:5:"), "names file and line: \(message)")
                #expect(message.contains(reason), "says why: \(message)")
                let leaks = Self.leaks(in: [("configuration error", message)], secrets: [("refused secret", secret)])
                #expect(leaks.isEmpty, "\(leaks)")
            }
        }
    }

    /// A configuration whose Postgres or Redis URL is refused does not repeat the password in it.
    @Test func aRefusedURLIsNotRepeatedWithItsPassword() throws {
        let yaml = """
            postgres:
              url: postgres://tollgate:\(Known.postgresPassword)@127.0.0.1:5432/tollgate?sslmode=sometimes
            redis:
              url: redis://:\(Known.redisPassword)@127.0.0.1:port/0
            """
        do {
            _ = try ConfigurationLoader(environment: [:]).load(yaml: yaml, path: "/etc/tollgate/tollgate.yaml")
            Issue.record("a configuration with bad URLs loaded")
        } catch {
            let message = "\(error)"
            #expect(message.contains("tollgate.yaml:2:") && message.contains("sslmode 'sometimes'"), "\(message)")
            #expect(message.contains("tollgate.yaml:4:") && message.contains("redis.url"), "\(message)")
            let leaks = Self.leaks(in: [("configuration error", message)],
                                   secrets: [("postgres password", Known.postgresPassword), ("redis password", Known.redisPassword)])
            #expect(leaks.isEmpty, "\(leaks)")
        }
        // A control character in a literal password: libyaml's reader refuses the file, and Yams's
        // description of that quotes the line.
        let password = "pg-canary-control-char-Wd4Ks9\u{01}Lm"
        do {
            _ = try ConfigurationLoader(environment: [:]).load(yaml: "postgres:\n  password: \"\(password)\"\n", path: "/etc/tollgate/tollgate.yaml")
            Issue.record("a configuration with a control character loaded")
        } catch {
            let message = "\(error)"
            #expect(message.contains("tollgate.yaml:2:") && message.contains("control characters"), "\(message)")
            let leaks = Self.leaks(in: [("configuration error", message)], secrets: [("literal postgres password", password)])
            #expect(leaks.isEmpty, "\(leaks)")
        }
    }
}

// MARK: - Finding a secret

extension SecretsNeverLeakTests {
    /// Each way a secret could be written out: as is, in the encodings a log or an error might use,
    /// and (for keys that are themselves an encoding) the raw key bytes.
    static func forms(of secret: String) -> [(label: String, text: String)] {
        let bytes = Array(secret.utf8)
        var forms: [(String, String)] = [
            ("raw", secret), ("base64", Data(bytes).base64EncodedString()), ("hex", bytes.hexEncoded), ("HEX", bytes.hexEncoded.uppercased()),
        ]
        if let encoded = secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) {
            forms.append(("url-encoded", encoded))
        }
        var keyBytes: [UInt8]?
        if secret.hasPrefix("whsec_") { keyBytes = Data(base64Encoded: String(secret.dropFirst(6))).map(Array.init) }
        if secret.count.isMultiple(of: 2), secret.allSatisfy(\.isHexDigit) { keyBytes = hexDecoded(secret) }
        if let keyBytes {
            forms += [("key bytes hex", keyBytes.hexEncoded), ("key bytes HEX", keyBytes.hexEncoded.uppercased()),
                      ("key bytes base64", Data(keyBytes).base64EncodedString())]
        }
        // Any 12 characters in a row of the secret: a prefix, a suffix, or a truncated echo.
        let characters = Array(secret)
        if characters.count > 12 {
            for start in 0...(characters.count - 12) { forms.append(("12-character run", String(characters[start..<start + 12]))) }
        }
        return forms
    }

    /// `place: secret name (form)` for every form of every secret found in `texts`.
    static func leaks(in texts: [(place: String, text: String)], secrets: [(name: String, value: String)] = Known.all) -> [String] {
        var found: [String] = []
        for (name, value) in secrets {
            for (label, form) in forms(of: value) {
                for (place, text) in texts where text.contains(form) {
                    found.append("\(place): \(name) (\(label) '\(form)') in: \(text.prefix(400))")
                }
            }
        }
        return found
    }

    static func hexDecoded(_ text: String) -> [UInt8] {
        let digits = Array(text.utf8)
        return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)! }
    }
}

// MARK: - What the edge wrote and answered

extension SecretsNeverLeakTests {
    /// Every log line the edge wrote (as `JSONLogHandler` renders it: message and every metadata
    /// value) and every response it gave, for the leak scan.
    final class Transcript: Sendable {
        struct Exposure: Sendable {
            let place: String
            let text: String
        }

        private let lines = NIOLockedValueBox<[String]>([])
        private let recorded = NIOLockedValueBox<[Exposure]>([])

        var logLines: [String] { lines.withLockedValue { $0 } }
        var exposures: [Exposure] { recorded.withLockedValue { $0 } }

        func logger(label: String) -> Logger {
            let output = JSONLogOutput { line in self.lines.withLockedValue { $0.append(line) } }
            var logger = Logger(label: label) { JSONLogHandler(label: $0, output: output) }
            logger.logLevel = .trace
            return logger
        }

        func record(_ place: String, _ text: String) {
            recorded.withLockedValue { $0.append(Exposure(place: place, text: text)) }
        }
    }

    /// Sends the requests of each path, checks each answer's status, and records the whole answer.
    struct Driver {
        let client: HTTPClient
        let edge: EdgeHarness.Running
        let transcript: Transcript
        var tenant: String { SecretsNeverLeakTests.tenant }

        @discardableResult
        func send(_ place: String, _ url: String, method: HTTPMethod = .GET, headers: [(String, String)] = [], body: [UInt8]? = nil,
                  expect status: Int) async throws -> String {
            let (response, text): (HTTPClientResponse, String)
            do {
                (response, text) = try await client.fetch(url, method: method, headers: headers, body: body.map { .bytes(ByteBuffer(bytes: $0)) })
            } catch {
                throw TestSupportError("\(place): \(error)")
            }
            let head = response.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
            transcript.record(place, "\(response.status.code) \(response.status.reasonPhrase)\n\(head)\n\n\(text)")
            #expect(Int(response.status.code) == status, "\(place): \(response.status.code) \(text.prefix(300))")
            return text
        }

        func webhookURL(_ source: String, tenant: String? = nil) -> String { edge.edge + "/v1/webhooks/\(tenant ?? self.tenant)/\(source)" }

        static func digits() -> String { String(Int64.random(in: 1_000_000_000_000_000...9_999_999_999_999_999)) }

        static func payment(order: String = "ord_leak_" + digits(), at date: Date = Date()) -> ProviderCallback {
            ProviderCallback(kind: .paymentSucceeded, orderID: order, eventID: digits(), paymentID: digits(), amountMinor: 1999, currency: "USD", occurredAt: date)
        }

        static func signer(_ provider: Provider, secret: String? = nil, authorization: String = Known.checkoutAuthorization) -> WebhookSigner {
            if provider == .apple { return SecretsNeverLeakTests.appleSource.signer! }
            if provider == .googlePlay { return SecretsNeverLeakTests.googleSource.signer! }
            if provider == .paypal { return SecretsNeverLeakTests.paypalSource.signer! }
            return WebhookSigner(provider: provider, secret: Secret(secret ?? Known.webhook[provider]!), authorization: provider == .checkout ? Secret(authorization) : nil)
        }

        /// Keys a forger might try that share most of the real one: all but its last or first unit
        /// (one hex byte for Adyen, one key byte for Standard Webhooks, one character otherwise).
        static func nearMisses(_ provider: Provider) -> [(label: String, secret: String)] {
            // Apple, Google Play: no secret to come near; a chain of another root, a key Google
            // did not publish, is the forgery.
            guard ![.apple, .googlePlay, .paypal].contains(provider) else { return [] }
            let secret = Known.webhook[provider]!
            switch provider {
            case .adyen:
                return [("prefix", String(secret.dropLast(2))), ("suffix", String(secret.dropFirst(2)))]
            case .standardWebhooks:
                let key = Array(Known.standardWebhooksRawKey.utf8)
                return [("prefix", "whsec_" + Data(key.dropLast()).base64EncodedString()), ("suffix", "whsec_" + Data(key.dropFirst()).base64EncodedString())]
            case .stripe, .paddle, .xsolla, .checkout, .apple, .googlePlay, .paypal:
                return [("prefix", String(secret.dropLast())), ("suffix", String(secret.dropFirst()))]
            }
        }

        func post(_ place: String, source: String, _ signed: WebhookSigner.SignedCallback, dropping: Set<String> = [], expect status: Int) async throws {
            let headers = signed.headers.filter { !dropping.contains($0.name.lowercased()) }.map { ($0.name, $0.value) }
            try await send(place, webhookURL(source), method: .POST, headers: headers, body: signed.body, expect: status)
        }

        /// Genuine, duplicate, forged, near-miss keys, missing headers, stale, tampered and malformed callbacks.
        func webhookPaths(_ provider: Provider) async throws {
            let source = provider.rawValue
            let accepted = provider.acknowledgement?.status ?? 200
            let refused = provider.verificationFailure?.status ?? 401
            let signer = Self.signer(provider)
            let genuine = try #require(Self.payment().signed(by: signer))
            try await post("\(source) genuine", source: source, genuine, expect: accepted)
            try await post("\(source) duplicate", source: source, genuine, expect: accepted)

            let forger = provider == .apple ? SecretsNeverLeakTests.appleSource.forger
                : provider == .googlePlay ? SecretsNeverLeakTests.googleSource.forger
                : provider == .paypal ? SecretsNeverLeakTests.paypalSource.forger
                : WebhookSigner(provider: provider, secret: provider.forgerSecret, authorization: provider == .checkout ? Secret(Known.checkoutAuthorization) : nil)
            let forged = try #require(Self.payment().signed(by: forger))
            try await post("\(source) forged", source: source, forged, expect: refused)
            for (label, secret) in Self.nearMisses(provider) {
                try await post("\(source) signed with a \(label) of the secret", source: source, try #require(Self.payment().signed(by: Self.signer(provider, secret: secret))), expect: refused)
            }
            if provider == .checkout {
                let shortAuthorization = try #require(Self.payment().signed(by: Self.signer(provider, authorization: String(Known.checkoutAuthorization.dropLast()))))
                try await post("checkout authorization a prefix of the configured one", source: source, shortAuthorization, expect: refused)
            }

            let unsigned = try #require(Self.payment().body(for: provider))
            try await send("\(source) without signature headers", webhookURL(source), method: .POST, headers: [("Content-Type", "application/json")], body: unsigned, expect: refused)
            let signatureHeaders = Set(genuine.headers.map { $0.name.lowercased() }).subtracting(["content-type"])
            if !signatureHeaders.isEmpty {
                for header in signatureHeaders.sorted() {
                    let signed = try #require(Self.payment().signed(by: signer))
                    try await post("\(source) without \(header)", source: source, signed, dropping: [header], expect: refused)
                }
            }
            if provider.signsTimestamp {
                let stale = try #require(Self.payment(at: Date().addingTimeInterval(-3600)).signed(by: signer))
                try await post("\(source) stale timestamp", source: source, stale, expect: refused)
            }

            let callback = Self.payment()
            var tampered = try #require(callback.signed(by: signer))
            var tamperedText = String(decoding: tampered.body, as: UTF8.self).replacingOccurrences(of: callback.orderID, with: callback.orderID + "x")
            if provider == .googlePlay {
                // Play names no order: change the package inside the base64 data instead (the
                // token does not cover the body; the package check does).
                let push = try #require(GooglePlayPush(body: tampered.body)?.notification)
                var changed = push
                changed["packageName"] = "com.someone.else"
                let data = try JSONSerialization.data(withJSONObject: changed).base64EncodedString()
                tamperedText = String(decoding: try JSONSerialization.data(withJSONObject: ["message": ["data": data, "messageId": Self.digits()]]), as: UTF8.self)
            }
            if provider == .apple {
                // The order id is inside the JWS: change one character of its payload.
                let dot = try #require(tamperedText.firstIndex(of: "."))
                let target = tamperedText.index(dot, offsetBy: 8)
                tamperedText.replaceSubrange(target...target, with: tamperedText[target] == "A" ? "B" : "A")
            }
            #expect(Array(tamperedText.utf8) != tampered.body, "\(source): the order id is in the body")
            tampered.body = Array(tamperedText.utf8)
            try await post("\(source) tampered body", source: source, tampered, expect: refused)

            // Well signed but not JSON: Adyen's signature is inside the body, so it cannot verify;
            // Standard Webhooks names the event in a header, so it is stored as unintelligible; the
            // others verify and then carry no event to deduplicate on.
            let malformed = signer.sign(body: Array(#"{"canary": "not json"#.utf8), timestamp: Int64(Date().timeIntervalSince1970), id: Self.digits())
            let malformedStatus = switch provider {
            case .adyen: refused
            case .standardWebhooks: accepted
            case .stripe, .paddle, .xsolla, .checkout, .paypal: 422
            // The JWS verifies, but its payload is no notification: refused before anything is stored.
            // Google Play: the token verifies, but there is no package to check.
            case .apple, .googlePlay: refused
            }
            try await post("\(source) malformed body", source: source, malformed, expect: malformedStatus)
        }

        /// Unknown tenant and source, the rate limit, and a body over the limit.
        func webhookRoutePaths() async throws {
            let signed = try #require(Self.payment().signed(by: Self.signer(.stripe)))
            let headers = signed.headers.map { ($0.name, $0.value) }
            try await send("unknown tenant", webhookURL("stripe", tenant: "nobody"), method: .POST, headers: headers, body: signed.body, expect: 404)
            try await send("unknown source", webhookURL("worldpay"), method: .POST, headers: headers, body: signed.body, expect: 404)
            try await send("unknown route", edge.edge + "/v2/anything", method: .POST, headers: headers, body: signed.body, expect: 404)

            for attempt in 1...2 {
                let callback = try #require(Self.payment().signed(by: Self.signer(.stripe)))
                try await post("rate limited source, callback \(attempt)", source: "limited", callback, expect: 200)
            }
            let overLimit = try #require(Self.payment().signed(by: Self.signer(.stripe)))
            try await post("rate limited source, over the limit", source: "limited", overLimit, expect: 429)

            let padding = String(repeating: "x", count: SecretsNeverLeakTests.bodyLimit + 1024)
            let oversized = Self.signer(.stripe).sign(body: Array(#"{"id":"evt_big","padding":"\#(padding)"}"#.utf8), timestamp: Int64(Date().timeIntervalSince1970), id: "big")
            try await post("oversized body", source: "stripe", oversized, expect: 413)
        }

        /// Create and read orders with good, missing, malformed, expired, forged and misaddressed tokens,
        /// and the provider declining and failing.
        func checkoutPaths(simulator: ProviderSimulator) async throws {
            let orders = edge.edge + "/v1/checkout/\(tenant)/orders"
            func token(player: String, audience: String? = nil, expires: Date = Date().addingTimeInterval(600), kid: String = "k1", key: String = Known.playerTokenKey) async throws -> String {
                try await PlayerTokenMinter.hs256(secret: key, kid: kid, tenant: audience ?? tenant, player: player, expires: expires)
            }
            @discardableResult
            func create(_ place: String, player: String, bearer: String?, key: String? = CheckoutTests.unique("key-"), body: String? = nil, expect status: Int) async throws -> String {
                var headers = [("Content-Type", "application/json"), ("Origin", CheckoutTests.origin)]
                if let bearer { headers.append(("Authorization", "Bearer \(bearer)")) }
                if let key { headers.append(("Idempotency-Key", key)) }
                return try await send(place, orders, method: .POST, headers: headers, body: Array((body ?? CheckoutTests.orderBody(player: player)).utf8), expect: status)
            }

            simulator.script([.succeed, .decline, .error])
            let player = CheckoutTests.unique("p_")
            let good = try await token(player: player)
            let created = try jsonObject(try await create("checkout created", player: player, bearer: good, expect: 201))
            let orderID = try #require(created["order_id"] as? String)
            try await create("checkout declined by the provider", player: player, bearer: good, expect: 402)
            try await create("checkout provider failing", player: player, bearer: good, expect: 502)

            let key = CheckoutTests.unique("key-")
            try await create("checkout replay, first", player: player, bearer: good, key: key, body: CheckoutTests.orderBody(player: player, quantity: 0), expect: 422)
            try await create("checkout replay, second", player: player, bearer: good, key: key, body: CheckoutTests.orderBody(player: player, quantity: 0), expect: 422)
            try await create("checkout key reused for another body", player: player, bearer: good, key: key, body: CheckoutTests.orderBody(player: player, quantity: 1), expect: 422)
            try await create("checkout without Idempotency-Key", player: player, bearer: good, key: nil, expect: 400)
            try await create("checkout malformed body", player: player, bearer: good, body: #"{"player_id": "#, expect: 400)
            try await create("checkout token of another player", player: player, bearer: try await token(player: "someone-else"), expect: 401)

            let refusedTokens: [(String, String?)] = [
                ("no token", nil),
                ("not a JWT", "not.a.jwt"),
                ("expired token", try await token(player: player, expires: Date().addingTimeInterval(-600))),
                ("token signed with a prefix of the key", try await token(player: player, key: String(Known.playerTokenKey.dropLast()))),
                ("token signed with a suffix of the key", try await token(player: player, key: String(Known.playerTokenKey.dropFirst()))),
                ("token with an unknown kid", try await token(player: player, kid: "k2")),
                ("token for another tenant", try await token(player: player, audience: "other-tenant")),
            ]
            for (label, bearer) in refusedTokens {
                try await create("checkout create, \(label)", player: player, bearer: bearer, expect: 401)
                var headers: [(String, String)] = []
                if let bearer { headers.append(("Authorization", "Bearer \(bearer)")) }
                try await send("checkout get, \(label)", "\(orders)/\(orderID)", headers: headers, expect: 401)
            }
            try await send("checkout get", "\(orders)/\(orderID)", headers: [("Authorization", "Bearer \(good)")], expect: 200)
            try await send("checkout get, another player's order", "\(orders)/\(orderID)", headers: [("Authorization", "Bearer \(try await token(player: "someone-else"))")], expect: 404)
            try await send("checkout preflight", orders, method: .OPTIONS,
                           headers: [("Origin", CheckoutTests.origin), ("Access-Control-Request-Method", "POST"), ("Access-Control-Request-Headers", "authorization")], expect: 204)
            try await send("checkout unknown tenant", edge.edge + "/v1/checkout/nobody/orders", method: .POST,
                           headers: [("Authorization", "Bearer \(good)"), ("Idempotency-Key", "k")], body: Array(CheckoutTests.orderBody(player: player).utf8), expect: 404)
            // The provider's payment_intent.succeeded, signed with the Stripe secret, reaches the edge.
            try await TestEnvironment.waitUntil(timeout: .seconds(10)) { simulator.statistics.deliveriesPending == 0 }
        }

        /// Health, readiness, the listings and reloads (with a broken file) of rules and catalogs.
        func adminPaths(rulesDirectory: URL, catalogDirectory: URL) async throws {
            try await send("edge healthz", edge.edge + "/healthz", expect: 200)
            try await send("edge readyz", edge.edge + "/readyz", expect: 200)
            try await send("admin readyz", edge.admin + "/readyz", expect: 200)
            try await send("admin rules", edge.admin + "/admin/rules", expect: 200)
            try await send("admin catalog", edge.admin + "/admin/catalog", expect: 200)
            try await send("admin unknown route", edge.admin + "/admin/secrets", expect: 404)
            try await send("admin metrics, midway", edge.admin + "/metrics", expect: 200)

            let rulesFile = rulesDirectory.appendingPathComponent("\(tenant).yaml")
            try "rules:\n  - name: broken\n    match: { route: webhooks }\n    rate: lots\n  - [unclosed\n".write(to: rulesFile, atomically: true, encoding: .utf8)
            try await send("admin rules reload, broken file", edge.admin + "/admin/rules/reload", method: .POST, expect: 422)
            try SecretsNeverLeakTests.rules.write(to: rulesFile, atomically: true, encoding: .utf8)
            let catalogFile = catalogDirectory.appendingPathComponent("\(tenant).yaml")
            try CheckoutTests.shopCatalog.replacingOccurrences(of: "prices: { EUR: 499, USD: 549 }", with: "prices: { EUR: 4.99 }").write(to: catalogFile, atomically: true, encoding: .utf8)
            try await send("admin catalog reload, broken file", edge.admin + "/admin/catalog/reload", method: .POST, expect: 422)
            try CheckoutTests.shopCatalog.write(to: catalogFile, atomically: true, encoding: .utf8)
            try await send("admin catalog reload", edge.admin + "/admin/catalog/reload", method: .POST, expect: 200)
        }

        /// Redis changes its password and drops the edge's connections: every reconnect fails
        /// authentication, readiness says so, and callbacks are still taken (Postgres decides).
        func redisAuthenticationFailurePaths(redis: RedisServerProcess) async throws {
            _ = try await redisCLI(redis, password: Known.redisPassword, ["CONFIG", "SET", "requirepass", Known.rotatedRedisPassword])
            _ = try await redisCLI(redis, password: Known.rotatedRedisPassword, ["CLIENT", "KILL", "TYPE", "normal"])
            try await TestEnvironment.waitUntil(timeout: .seconds(10)) {
                transcript.logLines.contains { $0.contains("redis connect failed") }
            }
            try await send("admin readyz, redis refusing the password", edge.admin + "/readyz", expect: 503)
            let callback = try #require(Self.payment().signed(by: Self.signer(.stripe)))
            try await post("stripe genuine, redis refusing the password", source: "stripe", callback, expect: 200)
            let player = CheckoutTests.unique("p_")
            let token = try await PlayerTokenMinter.hs256(secret: Known.playerTokenKey, kid: "k1", tenant: tenant, player: player, expires: Date().addingTimeInterval(600))
            try await send("checkout created, redis refusing the password", edge.edge + "/v1/checkout/\(tenant)/orders", method: .POST,
                           headers: [("Authorization", "Bearer \(token)"), ("Idempotency-Key", CheckoutTests.unique("key-")), ("Content-Type", "application/json")],
                           body: Array(CheckoutTests.orderBody(player: player).utf8), expect: 201)
        }

        /// Postgres goes away: readiness says so, and callbacks are refused with a retry. (Not
        /// checkout: its Postgres calls have no deadline of their own and wait for PostgresNIO's
        /// pool to give up, about a minute.)
        func postgresUnreachablePaths(proxy: TCPProxy) async throws {
            await proxy.stop()
            try await send("admin readyz, postgres unreachable", edge.admin + "/readyz", expect: 503)
            let callback = try #require(Self.payment().signed(by: Self.signer(.stripe)))
            try await post("stripe genuine, postgres unreachable", source: "stripe", callback, expect: 503)
        }
    }
}

/// Runs `redis-cli` against the test's own Redis (authenticating with `password`, if any).
@discardableResult
private func redisCLI(_ redis: RedisServerProcess, password: String?, _ arguments: [String]) async throws -> String {
    let cli = ["/usr/bin/redis-cli", "/usr/local/bin/redis-cli"].first { FileManager.default.isExecutableFile(atPath: $0) } ?? "/usr/bin/redis-cli"
    let authentication = password.map { ["--no-auth-warning", "-a", $0] } ?? []
    let result = try await ChildProcess.run(cli, ["-p", "\(redis.port)"] + authentication + arguments)
    #expect(result.status == 0 && !result.output.contains("ERR"), "redis-cli \(arguments.first ?? ""): \(result.output)")
    return result.output
}

// MARK: - The tenant

extension SecretsNeverLeakTests {
    static let bodyLimit = 64 << 10
    /// Not a secret: sent where the access log writes it, to show the scan would see a leak.
    static let plantedValue = "planted-canary-Qz4Rv8Ty"

    /// Apple's source: it trusts the lifecycle chain's root and signs with it (a development tenant's shape).
    static let appleSource: WebhookSource = {
        let identity = ProviderLifecycle.appleIdentity
        let verifier = try? AppleSignedDataVerifier(rootCertificates: [identity.rootDER], bundleID: ProviderLifecycle.appleBundleID,
                                                    environment: ProviderLifecycle.appleEnvironment)
        return WebhookSource(tenant: tenant, name: Provider.apple.rawValue, provider: .apple, secrets: [],
                             apple: verifier.map { AppleSourceSettings(verifier: $0, signingIdentity: identity) })
    }()

    /// Google Play's source: it trusts the test key and signs with it (a development tenant's shape).
    static let googleSource = WebhookSource(
        tenant: tenant, name: Provider.googlePlay.rawValue, provider: .googlePlay, secrets: [],
        google: GooglePlaySourceSettings(verifier: ProviderLifecycle.googleVerifier(), packageNames: [ProviderLifecycle.googlePackage],
                                         signingKey: ProviderLifecycle.googleKey))

    /// PayPal's source: it trusts the test identity's root and signs with it (a development tenant's shape).
    static let paypalSource = WebhookSource(
        tenant: tenant, name: Provider.paypal.rawValue, provider: .paypal, secrets: [],
        paypal: PayPalSourceSettings(verifier: ProviderLifecycle.paypalVerifier(), sandbox: false, signingIdentity: ProviderLifecycle.paypalIdentity))

    /// One source per provider, a rate-limited Stripe source, and checkout at the simulator.
    static func tenants(paymentsURL: String) -> TenantCatalog {
        TenantCatalog(
            sources: Provider.allCases.filter { ![.apple, .googlePlay, .paypal].contains($0) }.map { provider in
                WebhookSource(tenant: tenant, name: provider.rawValue, provider: provider, secrets: [Secret(Known.webhook[provider]!)],
                              authorization: provider == .checkout ? Secret(Known.checkoutAuthorization) : nil)
            } + [appleSource, googleSource, paypalSource, WebhookSource(tenant: tenant, name: "limited", provider: .stripe, secrets: [Secret(Known.webhook[.stripe]!)])],
            checkout: [CheckoutSettings(
                tenant: tenant, origins: [CheckoutTests.origin], maximumTotalMinor: 50_000,
                playerTokenKeys: [.init(kid: "k1", algorithm: .hs256, material: Secret(Known.playerTokenKey))],
                payments: .init(baseURL: paymentsURL, secretKey: Secret(Known.paymentsKey), webhookSource: "stripe",
                                connectTimeout: .seconds(1), timeout: .seconds(3), attempts: 1)
            )]
        )
    }

    static let rules = """
        rules:
          - name: vault-limited
            match: { route: webhooks, source: limited }
            rate: 2/min
            burst: 2
            by: source
        """

    /// The test Postgres URL at `port` (its proxy), with `password` added to its user.
    static func postgresURL(port: Int, password: String) -> String {
        var components = URLComponents(string: TestEnvironment.postgresURL)!
        components.port = port
        components.password = password
        return components.string!
    }

    /// The Stripe-shaped provider simulator, holding the tenant's API key and Stripe signing secret.
    static func startSimulator(transcript: Transcript, caPath: String) async throws -> ProviderSimulator {
        var configuration = ProviderSimulator.Configuration()
        configuration.port = 0
        configuration.secretKey = Known.paymentsKey
        configuration.webhookSecret = Known.webhook[.stripe]!
        configuration.tenantEndpoints = [tenant: (source: "stripe", secret: Known.webhook[.stripe]!)]
        configuration.trustRootsPath = caPath
        configuration.settleDelay = .milliseconds(100)
        configuration.retryBaseDelay = .milliseconds(100)
        return ProviderSimulator(configuration: configuration, logger: transcript.logger(label: "test.sim"))
    }

    static func tenantFile(provider: String, secret: String) -> String {
        "tenant: vault\nsources:\n  main:\n    provider: \(provider)\n    secrets: [\"\(secret)\"]\n"
    }

    static func checkoutTenantFile(tokenKey: String) -> String {
        """
        tenant: vault
        checkout:
          player_tokens:
            - kid: k1
              \(tokenKey)
          payments:
            provider: stripe
            base_url: https://api.stripe.com
            secret_key: env:VAULT_STRIPE_KEY
        """
    }
}
