import DeltaCore
import Foundation
import Testing

/// Every input the fuzzer ever crashed on (`Tests/Fuzz/regressions/`), and the seed corpus, read
/// by the real bundle reader: each is accepted or refused with a `DeltaError`, never a crash, and
/// leaves no spool files behind.
@Suite struct FuzzRegressionTests {
    static let fuzzDirectory: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<2 { url.deleteLastPathComponent() }
        return url.appendingPathComponent("Fuzz").path
    }()

    static func inputs(_ folder: String) -> [String] {
        let directory = fuzzDirectory + "/" + folder
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { !$0.hasSuffix(".md") }.sorted().map { directory + "/" + $0 }
    }

    @Test func regressionsAndCorpusNeverCrashTheReader() throws {
        let regressions = Self.inputs("regressions")
        let corpus = Self.inputs("corpus/bundle")
        #expect(!regressions.isEmpty)
        #expect(corpus.count >= 10)
        let spool = NSTemporaryDirectory() + "deltasync-fuzz-regressions-" + UUID().uuidString
        try FileSystem.createDirectory(spool)
        defer { FileSystem.removeTree(spool) }
        let limits = BundleLimits(
            maxCompressedBytes: 8 << 20, maxUncompressedBytes: 8 << 20, maxFileBytes: 1 << 20, maxEntries: 1000)
        var accepted = 0
        for input in regressions + corpus {
            do {
                let bundle = try BundleReader(limits: limits, temporaryDirectory: spool).read(path: input)
                bundle.discard()
                accepted += 1
            } catch is DeltaError {
                // Refused with a code: what every malformed input must get.
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: spool).isEmpty, "\(input)")
        }
        #expect(accepted > 0)
    }
}
