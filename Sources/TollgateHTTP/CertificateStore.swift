import Logging
import Metrics
import NIOConcurrencyHelpers
import NIOSSL

/// The edge's certificate chain and key, replaceable at run time.
///
/// Every TLS handshake asks the store (through NIOSSL's context callback) for the current pair,
/// so a reload takes effect for new connections while open ones keep the session they have.
public final class CertificateStore: Sendable {
    public struct Pair: Sendable {
        public var chain: [NIOSSLCertificate]
        public var key: NIOSSLPrivateKey
    }

    public let chainPath: String
    public let keyPath: String
    private let current: NIOLockedValueBox<Pair>

    /// Loads the pair from disk; throws if either file is missing, unparsable or they do not match.
    public init(chainPath: String, keyPath: String) throws {
        self.chainPath = chainPath
        self.keyPath = keyPath
        let loaded = try Self.load(chainPath: chainPath, keyPath: keyPath)
        self.current = NIOLockedValueBox(loaded)
        Self.publishExpiry(of: loaded)
    }

    public var pair: Pair { current.withLockedValue { $0 } }

    /// Re-reads both files. On any error the pair in force stays and the error is thrown.
    public func reload() throws {
        let fresh = try Self.load(chainPath: chainPath, keyPath: keyPath)
        // Published under the lock, so the gauge always names the pair in force.
        current.withLockedValue {
            $0 = fresh
            Self.publishExpiry(of: fresh)
        }
    }

    /// `tollgate_tls_certificate_not_after_seconds`: the serving leaf's notAfter (unix time), set
    /// whenever a pair comes into force. Only the store knows which pair serves, so it is set here;
    /// the expiry alert compares it with `time()`, so it needs no refreshing between reloads.
    private static func publishExpiry(of pair: Pair) {
        Gauge(label: "tollgate_tls_certificate_not_after_seconds").record(Int64(pair.chain[0].notValidAfter))
    }

    /// A server TLS configuration: TLS 1.2 minimum (NIOSSL's default minimum is 1.0) and the
    /// store's pair for each handshake. ALPN protocols are set by the HTTP/2 channel.
    public func serverTLSConfiguration() -> TLSConfiguration {
        let pair = self.pair
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: pair.chain.map { .certificate($0) },
            privateKey: .privateKey(pair.key)
        )
        configuration.minimumTLSVersion = .tlsv12
        configuration.sslContextCallback = { [current] _, promise in
            let pair = current.withLockedValue { $0 }
            var override = NIOSSLContextConfigurationOverride()
            override.certificateChain = pair.chain.map { .certificate($0) }
            override.privateKey = .privateKey(pair.key)
            promise.succeed(override)
        }
        return configuration
    }

    private static func load(chainPath: String, keyPath: String) throws -> Pair {
        let chain = try NIOSSLCertificate.fromPEMFile(chainPath)
        guard !chain.isEmpty else { throw CertificateStoreError.emptyChain(chainPath) }
        let key = try NIOSSLPrivateKey(file: keyPath, format: .pem)
        // Building a context makes BoringSSL check that the key belongs to the leaf certificate.
        var check = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        check.minimumTLSVersion = .tlsv12
        _ = try NIOSSLContext(configuration: check)
        return Pair(chain: chain, key: key)
    }
}

public enum CertificateStoreError: Error, CustomStringConvertible {
    case emptyChain(String)

    public var description: String {
        switch self {
        case .emptyChain(let path): "no certificate in \(path)"
        }
    }
}
