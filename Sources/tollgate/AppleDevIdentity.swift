import ArgumentParser
import Foundation
import TollgateSignatures

/// `tollgate apple-dev-identity`: a development App Store signing chain, so that `tollgate trigger`
/// and the load generator can send Apple callbacks to a development tenant.
struct AppleDevIdentity: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apple-dev-identity",
        abstract: "Make a development App Store signing chain (root, intermediate with Apple's markers, leaf and key).",
        discussion: """
            Writes DIR/root.der (the development tenant's root_certificates) and DIR/signing.pem (its
            signing_identity: the leaf's key, then leaf, intermediate and root). Only development tenants
            accept a signing_identity; production sources trust Apple Root CA - G3 alone.
            """
    )

    @Option(help: "Directory to write root.der and signing.pem into.") var out = "certs/dev/apple"
    @Flag(help: "Replace an existing chain.") var force = false

    func run() async throws {
        let root = (out as NSString).appendingPathComponent("root.der"), signing = (out as NSString).appendingPathComponent("signing.pem")
        if !force, FileManager.default.fileExists(atPath: signing) {
            print("\(signing) exists; --force replaces it")
            return
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let identity = try AppleSigningIdentity.development()
        try Data(identity.rootDER).write(to: URL(fileURLWithPath: root))
        // The key is a secret even in development: owner-only, like certs/dev's keys.
        guard FileManager.default.createFile(atPath: signing, contents: Data(identity.pemRepresentation.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ValidationError("cannot write \(signing)")
        }
        print("wrote \(root) and \(signing)")
    }
}
