import Foundation
import TollgateFuzzTargets

#if FUZZING
import CLibFuzzer

/// The target of this process: libFuzzer's callback is a C function and cannot capture it.
nonisolated(unsafe) var selectedTarget: FuzzTarget?

/// `TOLLGATE_FUZZ_TARGET=<name> tollgate-fuzz [libFuzzer flags] [corpus dirs]`, built by scripts/fuzz.sh
/// with `-sanitize=fuzzer,address -D FUZZING`. SwiftPM names an executable's `main` itself, so this
/// one keeps it and hands libFuzzer the arguments and the callback (`LLVMFuzzerRunDriver`).
/// An invariant violation aborts, so libFuzzer saves the input.
@main enum TollgateFuzz {
    static func main() {
        guard let name = ProcessInfo.processInfo.environment["TOLLGATE_FUZZ_TARGET"], let target = FuzzTargets.named(name) else {
            FileHandle.standardError.write(Data("set TOLLGATE_FUZZ_TARGET to one of: \(FuzzTargets.all.map(\.name).joined(separator: " "))\n".utf8))
            exit(2)
        }
        selectedTarget = target
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            do {
                try selectedTarget!.run(UnsafeRawBufferPointer(start: data, count: size))
            } catch {
                fatalError("invariant violated: \(error)")
            }
            return 0
        })
    }
}
#else
/// Without libFuzzer: `tollgate-fuzz --list`, or `tollgate-fuzz TARGET FILE_OR_DIR...` to replay
/// inputs (a crash reproducer, a corpus) through a target in a normal build, e.g. under a debugger.
@main enum TollgateFuzz {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--list" {
            for target in FuzzTargets.all { print("\(target.name)\t\(target.summary)") }
            return
        }
        guard arguments.count >= 2, let target = FuzzTargets.named(arguments[0]) else {
            print("usage: tollgate-fuzz --list | tollgate-fuzz TARGET FILE_OR_DIR...")
            exit(2)
        }
        var replayed = 0
        var failed = 0
        for path in arguments.dropFirst() {
            for file in files(at: path) {
                guard let data = FileManager.default.contents(atPath: file) else { continue }
                do {
                    try target.run(Array(data))
                } catch {
                    print("\(file): \(error)")
                    failed += 1
                }
                replayed += 1
            }
        }
        print("\(target.name): replayed \(replayed) inputs, \(failed) violated an invariant")
        exit(failed == 0 ? 0 : 1)
    }

    static func files(at path: String) -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return [] }
        guard isDirectory.boolValue else { return [path] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        return names.sorted().map { (path as NSString).appendingPathComponent($0) }
    }
}
#endif
