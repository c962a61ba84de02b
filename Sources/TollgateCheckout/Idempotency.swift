import Crypto
import TollgateCore

/// The `Idempotency-Key` rules (IETF draft "The Idempotency-Key HTTP Header Field", with
/// Stripe's semantics): scoped to (tenant, player), bound to a fingerprint of the request.
public enum Idempotency {
    /// A key is 1 to 255 visible ASCII characters.
    public static func validateKey(_ key: String?) -> String? {
        guard let key, (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
        return key
    }

    /// SHA-256 over method, path and body, hex: the same key with a different request is a client bug.
    public static func fingerprint(method: String, path: String, body: [UInt8]) -> String {
        var hasher = SHA256()
        hasher.update(data: Array(method.uppercased().utf8) + [0] + Array(path.utf8) + [0])
        hasher.update(data: body)
        return hasher.finalize().hexEncoded
    }

    /// What is stored under a key.
    public enum Record: Sendable, Equatable {
        /// A request with this fingerprint is being processed.
        case inFlight(fingerprint: String)
        /// A request with this fingerprint finished with this response (final answers only).
        case completed(fingerprint: String, response: StoredResponse)
    }

    public struct StoredResponse: Sendable, Equatable {
        public var status: Int
        public var headers: [String: String]
        public var body: [UInt8]

        public init(status: Int, headers: [String: String], body: [UInt8]) {
            self.status = status
            self.headers = headers
            self.body = body
        }

        /// 2xx and 4xx answers are final and stored; a 5xx may be transient, so the client may retry.
        public var isFinal: Bool { status < 500 }
    }

    public enum Decision: Sendable, Equatable {
        /// No record: this request goes ahead (after claiming the key).
        case proceed
        /// Same request, finished: send the stored response with `Idempotent-Replayed: true`.
        case replay(StoredResponse)
        /// Same request, still running: 409 with `Retry-After: 1`.
        case inProgress
        /// Same key, different request: 422.
        case mismatch
    }

    /// Whether the request that made an order under a key is this one. Orders stored before
    /// fingerprints were kept (nil) match any request, as they did then.
    public static func sameRequest(stored: String?, fingerprint: String) -> Bool {
        stored == nil || stored == fingerprint
    }

    public static func decide(record: Record?, fingerprint: String) -> Decision {
        switch record {
        case nil: .proceed
        case .inFlight(let stored): stored == fingerprint ? .inProgress : .mismatch
        case .completed(let stored, let response): stored == fingerprint ? .replay(response) : .mismatch
        }
    }
}
