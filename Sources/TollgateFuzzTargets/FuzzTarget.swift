/// One libFuzzer target: a name (`TOLLGATE_FUZZ_TARGET`, the folder under `Fuzz/corpus/`) and the
/// function that feeds one input to a real entry point of Tollgate.
///
/// A target returns normally for every input a correct program handles, whatever it decides
/// (refusals, diagnostics, thrown parse errors are all fine). It throws ``FuzzInvariantViolation``
/// when an answer is wrong, and a trap, leak or hang inside the code under test is found by the
/// sanitizers and libFuzzer themselves.
public struct FuzzTarget: Sendable {
    public let name: String
    /// What the target feeds and what it checks, for `tollgate-fuzz --list` and Fuzz/README.md.
    public let summary: String
    let body: @Sendable ([UInt8]) throws(FuzzInvariantViolation) -> Void

    init(_ name: String, _ summary: String, _ body: @escaping @Sendable ([UInt8]) throws(FuzzInvariantViolation) -> Void) {
        self.name = name
        self.summary = summary
        self.body = body
    }

    /// Runs one input.
    public func run(_ input: UnsafeRawBufferPointer) throws(FuzzInvariantViolation) {
        try body(Array(input))
    }

    public func run(_ input: [UInt8]) throws(FuzzInvariantViolation) {
        try body(input)
    }
}

/// An answer the code under test must never give, e.g. a webhook that verifies without a valid MAC.
public struct FuzzInvariantViolation: Error, Sendable, CustomStringConvertible {
    public let target: String
    public let message: String

    public var description: String { "\(target): \(message)" }
}

/// Every target, by name.
public enum FuzzTargets {
    public static let all: [FuzzTarget] =
        SignatureVerificationTargets.all
        + CertificateCallbackTargets.all
        + NormalizerTargets.all
        + [ConfigurationFileTargets.rulesFile, ConfigurationFileTargets.catalogFile, ConfigurationFileTargets.tenantFile]
        + [RESPReaderTarget.target, PlayerTokenTarget.target, DeliveryAnswerTarget.target]

    public static func named(_ name: String) -> FuzzTarget? {
        all.first { $0.name == name }
    }
}
