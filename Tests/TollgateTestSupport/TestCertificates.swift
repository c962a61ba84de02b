import Foundation

/// A CA and a server certificate for localhost made by `certs/make-dev-certs.sh` into a temp dir.
public struct TestCertificates: Sendable {
    public let directory: URL

    /// Certificates already in `directory` under the names the script uses.
    public init(directory: URL) {
        self.directory = directory
    }
    public var caPath: String { directory.appendingPathComponent("ca.pem").path }
    public var chainPath: String { directory.appendingPathComponent("server.pem").path }
    public var keyPath: String { directory.appendingPathComponent("server-key.pem").path }

    public static func make() async throws -> TestCertificates {
        let directory = try TestEnvironment.makeTemporaryDirectory("tollgate-certs")
        let script = TestEnvironment.packageRoot.appendingPathComponent("certs/make-dev-certs.sh").path
        let result = try await ChildProcess.run("/bin/bash", [script, "--force", directory.path])
        guard result.status == 0 else { throw TestSupportError("make-dev-certs.sh failed: \(result.output)") }
        return TestCertificates(directory: directory)
    }
}
