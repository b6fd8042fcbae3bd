import DeltaCore
import Foundation
import Testing

/// The manifest's hand-written JSON: what it writes is what Foundation reads, and what it reads
/// agrees with Foundation on every document, whatever the escaping, spacing or extra keys.
@Suite struct ManifestJSONTests {
    static let awkwardPaths = [
        "plain.txt", "dir/sub/file.swift", "quote\"d", "back\\slash", "new\nline", "tab\there", "ctrl\u{01}\u{1F}x",
        "slash/\u{7F}del", "caf\u{E9}/na\u{EF}ve", "emoji/\u{1F600}.md", "\u{2028}line-separator", "a\u{0}b",
    ]

    static func manifest(_ paths: [String], sequence: Int64 = 42) -> ManifestResponse {
        ManifestResponse(
            workspace: "ws \"one\"", sequence: sequence,
            files: paths.enumerated().map { index, path in
                ManifestFile(
                    path: path,
                    contentHash: ContentHash(
                        algorithm: index % 3 == 0 ? .sha1 : .sha256,
                        hex: String(repeating: String(index % 16, radix: 16), count: index % 3 == 0 ? 40 : 64)),
                    sizeBytes: Int64(index) * 1_000_003, mode: index % 2 == 0 ? 0o644 : 0o755)
            })
    }

    @Test func whatItWritesFoundationReadsBackEqual() throws {
        let original = Self.manifest(Self.awkwardPaths)
        let written = ManifestJSON.encode(original)
        #expect(try JSONDecoder().decode(ManifestResponse.self, from: Data(written)) == original)
        #expect(try ManifestJSON.decode(written) == original)
    }

    @Test(arguments: [false, true])
    func readsWhatFoundationWrites(pretty: Bool) throws {
        let original = Self.manifest(Self.awkwardPaths + (0..<200).map { "generated/\($0)/f\($0).c" })
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted] : [.sortedKeys]  // slashes escaped as \/
        let written = try encoder.encode(original)
        #expect(try ManifestJSON.decode(Array(written)) == original)
    }

    @Test func unknownKeysAreSkippedWhateverTheirValue() throws {
        let text = """
            { "extra": {"nested": [1, 2.5e3, {"x": null}], "t": true}, "sequence": 7,
              "files": [ {"mode": 420, "future": [false, "s"], "path": "a\\u00e9\\ud83d\\ude00",
                          "size_bytes": 3, "content_hash": "SHA256:\(String(repeating: "A", count: 64))"} ],
              "workspace": "w" }
            """
        let ours = try ManifestJSON.decode(Array(text.utf8))
        let foundation = try JSONDecoder().decode(ManifestResponse.self, from: Data(text.utf8))
        #expect(ours == foundation)
        #expect(ours.files.first?.path == "a\u{E9}\u{1F600}")
    }

    @Test(arguments: [
        #"{"workspace":"w","sequence":1}"#,  // no files
        #"{"workspace":"w","sequence":1,"files":[{"path":"a","content_hash":"sha256:00","size_bytes":1,"mode":420}]}"#,
        #"{"workspace":"w","sequence":1,"files":[{"path":"a","size_bytes":1,"mode":420}]}"#,
        #"{"workspace":"w","sequence":"x","files":[]}"#,
        #"{"workspace":"w","sequence":1,"files":[],}"#,
        #"{"workspace":"w","sequence":1,"files":[]} x"#,
        #"{"workspace":"w\ud800","sequence":1,"files":[]}"#,
        #"{"workspace":"w","sequence":1,"files":[{"path":"a","content_hash":"sha256:"#,
        "[]", "",
    ])
    func rejectsWhatIsNotAManifest(_ text: String) {
        #expect(throws: DeltaError.self) { try ManifestJSON.decode(Array(text.utf8)) }
    }

    @Test func everyTruncationIsRejected() throws {
        let written = ManifestJSON.encode(Self.manifest(Self.awkwardPaths))
        for length in 0..<written.count {
            #expect(throws: DeltaError.self, "a prefix of \(length) bytes") {
                try ManifestJSON.decode(Array(written.prefix(length)))
            }
        }
    }
}
