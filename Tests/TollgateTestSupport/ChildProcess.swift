import Foundation

/// A child process whose output is captured, for tests that run real servers and binaries.
public final class ChildProcess: @unchecked Sendable {
    public let process = Process()
    private let output = Pipe()
    private let lock = NSLock()
    private var captured = Data()

    public init(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil) {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let environment { process.environment = environment }
        if let directory { process.currentDirectoryURL = directory }
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard let self, !chunk.isEmpty else { return }
            self.lock.lock()
            self.captured.append(chunk)
            self.lock.unlock()
        }
    }

    public func start() throws { try process.run() }

    /// Everything the process wrote to stdout and stderr so far.
    public var outputText: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: captured, as: UTF8.self)
    }

    public var pid: Int32 { process.processIdentifier }
    public var isRunning: Bool { process.isRunning }

    public func signal(_ signal: Int32) {
        kill(process.processIdentifier, signal)
    }

    /// Waits for exit (polling, so the caller's task is not blocked) and returns the exit status.
    public func waitForExit(timeout: Duration = .seconds(30)) async throws -> Int32 {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            guard ContinuousClock.now < deadline else { throw TestSupportError("process \(pid) still running after \(timeout)") }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// Runs to completion and returns (status, output).
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil, directory: URL? = nil) async throws -> (status: Int32, output: String) {
        let child = ChildProcess(executable, arguments, environment: environment, directory: directory)
        try child.start()
        let status = try await child.waitForExit(timeout: .seconds(60))
        try await Task.sleep(for: .milliseconds(50))  // let the last output chunk arrive
        return (status, child.outputText)
    }

    deinit {
        if process.isRunning { process.terminate() }
    }
}
