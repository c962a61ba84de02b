import Foundation
import Testing
import TollgateFuzzTargets

/// Every committed fuzz input (Fuzz/corpus/<target>/ and the crash reproducers in
/// Fuzz/regressions/<target>/) replayed through its target in a normal build: a fixed crash stays
/// fixed, and the invariants hold on the whole corpus, without libFuzzer or sanitizers.
///
/// Serialized: a target blocks its thread until its async entry point finishes (`runBlocking`),
/// and when the test runner ran the targets in parallel they took every thread of Swift's global
/// pool while the PayPal target still needed one (it hung; `swift test --no-parallel`, as CI runs,
/// never showed it).
@Suite(.serialized) struct FuzzCorpusReplayTests {
    static let fuzzDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func inputs(_ kind: String, _ target: FuzzTarget) -> [URL] {
        let directory = fuzzDirectory.appendingPathComponent(kind).appendingPathComponent(target.name)
        let files = (try? FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)) ?? []
        return files.filter { !$0.lastPathComponent.hasPrefix(".") }.sorted { $0.path < $1.path }
    }

    @Test(arguments: FuzzTargets.all.map(\.name))
    func everyCorpusInputCompletesWithItsInvariants(_ name: String) throws {
        let target = try #require(FuzzTargets.named(name))
        let corpus = Self.inputs("corpus", target)
        #expect(!corpus.isEmpty, "Fuzz/corpus/\(name) holds the seeds; scripts/fuzz.sh seeds regenerates them")
        for file in corpus + Self.inputs("regressions", target) {
            let bytes = try [UInt8](Data(contentsOf: file))
            #expect(throws: Never.self, "\(file.lastPathComponent)") { try target.run(bytes) }
        }
    }

    @Test func everyCorpusFolderNamesATarget() throws {
        let names = Set(FuzzTargets.all.map(\.name))
        for kind in ["corpus", "regressions"] {
            let folders = (try? FileManager.default.contentsOfDirectory(atPath: Self.fuzzDirectory.appendingPathComponent(kind).path)) ?? []
            for folder in folders where !folder.hasPrefix(".") {
                #expect(names.contains(folder), "Fuzz/\(kind)/\(folder) names no target")
            }
        }
    }
}
