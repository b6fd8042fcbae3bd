import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// Every bad input over real HTTP: the right status and `error.code`, and nothing changed.
@Suite struct RejectionTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var status: Int
        var code: String
        var bundle: @Sendable () throws -> [UInt8]
        var testDescription: String { name }
    }

    static func tar(_ edit: (inout TestBundle) -> Void) throws -> [UInt8] {
        var bundle = TestBundle()
        edit(&bundle)
        return try bundle.gzip()
    }

    static let cases: [Case] = [
        Case(name: "not gzip", status: 400, code: "NOT_GZIP") { Array("hello".utf8) },
        Case(name: "not tar", status: 400, code: "INVALID_TAR") { try Gzip.compress(Array(repeating: 1, count: 1024)) },
        Case(name: "trailing data", status: 400, code: "TRAILING_DATA") {
            try TestBundle.simple(files: ["x": "x"]) + [1, 2, 3]
        },
        Case(name: "missing manifest", status: 400, code: "MISSING_MANIFEST") {
            try tar { $0.add("files/created/x", "x") }
        },
        Case(name: "invalid manifest", status: 400, code: "INVALID_MANIFEST") {
            try tar { $0.add("manifest.json", "[") }
        },
        Case(name: "unsupported version", status: 400, code: "UNSUPPORTED_VERSION") {
            try tar {
                $0.addManifest(bundleID: "v", version: "9"); $0.addOperations([])
            }
        },
        Case(name: "absolute path", status: 400, code: "INVALID_PATH") {
            try tar {
                $0.addManifest(bundleID: "a"); $0.addOperations([BundleOperation(operation: .deleted, path: "/etc/x")])
            }
        },
        Case(name: "dot-dot path", status: 400, code: "INVALID_PATH") { try tar { $0.add("files/created/../x", "x") } },
        Case(name: "control character", status: 400, code: "INVALID_PATH") {
            try tar { $0.add("files/created/a\u{1b}", "x") }
        },
        Case(name: "backslash", status: 400, code: "INVALID_PATH") { try tar { $0.add("files/created/a\\b", "x") } },
        Case(name: "non-UTF-8 name", status: 400, code: "INVALID_PATH") {
            try tar { $0.addRaw(name: Array("files/created/".utf8) + [0xc3, 0x28], bytes: [1]) }
        },
        Case(name: "symlink entry", status: 400, code: "UNSUPPORTED_ENTRY") {
            try tar { $0.add("files/created/l", [], type: "2") }
        },
        Case(name: "hardlink entry", status: 400, code: "UNSUPPORTED_ENTRY") {
            try tar { $0.add("files/created/l", [], type: "1") }
        },
        Case(name: "device entry", status: 400, code: "UNSUPPORTED_ENTRY") { try tar { $0.add("dev", [], type: "3") } },
        Case(name: "duplicate entry", status: 400, code: "DUPLICATE_ENTRY") {
            try tar {
                $0.add("files/created/x", "1"); $0.add("files/created/x", "2")
            }
        },
        Case(name: "content missing", status: 422, code: "CONTENT_MISSING") {
            try tar {
                $0.addManifest(bundleID: "c"); $0.addOperations([BundleOperation(operation: .created, path: "nope")])
            }
        },
        Case(name: "hash mismatch", status: 422, code: "HASH_MISMATCH") {
            try tar { bundle in
                bundle.add("files/updated/existing.txt", "tampered")
                bundle.addOperations([
                    BundleOperation(
                        operation: .updated, path: "existing.txt", contentHash: TestBundle.sha256("original"))
                ])
                bundle.addManifest(bundleID: "h")
            }
        },
        Case(name: "moved with unknown content", status: 422, code: "CONTENT_MISSING") {
            try tar { bundle in
                bundle.addOperations([
                    BundleOperation(
                        operation: .moved, path: "n", sourcePath: "missing", contentHash: TestBundle.sha256("zz"))
                ])
                bundle.addManifest(bundleID: "mv")
            }
        },
        Case(name: "file becomes a directory", status: 409, code: "PATH_CONFLICT") {
            try TestBundle.simple(files: ["existing.txt/child": "c"])
        },
        Case(name: "directory becomes a file", status: 409, code: "PATH_CONFLICT") {
            try TestBundle.simple(files: ["dir": "now a file"])
        },
        Case(name: "file and directory in one bundle", status: 409, code: "PATH_CONFLICT") {
            try TestBundle.simple(files: ["new": "f", "new/inner": "g"])
        },
        Case(name: "too many entries", status: 413, code: "TOO_MANY_ENTRIES") {
            try tar { bundle in for index in 0..<40 { bundle.add("files/created/f\(index)", "x") } }
        },
        Case(name: "file over limit", status: 413, code: "FILE_TOO_LARGE") {
            try tar { $0.add("files/created/big", [UInt8](repeating: 1, count: 300_000)) }
        },
        Case(name: "uncompressed over limit", status: 413, code: "UNCOMPRESSED_TOO_LARGE") {
            try tar { bundle in
                for index in 0..<6 { bundle.add("files/created/z\(index)", [UInt8](repeating: 0, count: 200_000)) }
            }
        },
    ]

    /// The same bundles sent as uncompressed tars (what a client on loopback sends): each is
    /// refused with the same status and code. The three cases about gzip itself have their own
    /// plain-tar twin below.
    static let plainCases: [Case] =
        cases.filter { !["not gzip", "not tar", "trailing data"].contains($0.name) }.map { gzipped in
            var plain = gzipped
            plain.name = "plain tar: " + gzipped.name
            plain.bundle = { try Gzip.decompress(try gzipped.bundle()) }
            return plain
        } + [
            Case(name: "plain tar: trailing data", status: 400, code: "TRAILING_DATA") {
                try Gzip.decompress(try TestBundle.simple(files: ["x": "x"])) + [1, 2, 3]
            },
            Case(name: "plain tar: v7 header without the ustar magic", status: 400, code: "NOT_GZIP") {
                var bytes = try Gzip.decompress(try TestBundle.simple(files: ["x": "x"]))
                for index in 257..<263 { bytes[index] = 0 }
                return bytes
            },
            Case(name: "zstd", status: 400, code: "NOT_GZIP") {
                [0x28, 0xB5, 0x2F, 0xFD] + [UInt8](repeating: 7, count: 600)
            },
        ]

    static func limits(_ configuration: inout ServerConfiguration) {
        configuration.limits = BundleLimits(
            maxCompressedBytes: 4 << 20, maxUncompressedBytes: 1_000_000, maxFileBytes: 256_000, maxEntries: 30
        )
    }

    /// A workspace with `existing.txt` and `dir/inner.txt`.
    static func seed(_ server: TestServer) async throws {
        let seeded = try await ServerTest.upload(
            server, TestBundle.simple(files: ["existing.txt": "original", "dir/inner.txt": "inner"])
        )
        #expect(seeded.status == 200)
    }

    @Test(arguments: cases + plainCases)
    func badBundleIsRejectedAndChangesNothing(_ testCase: Case) async throws {
        try await withTemporaryDirectory("reject") { directory in
            try await TestServer.with(workDirectory: directory.path, configure: Self.limits) { server in
                try await Self.seed(server)
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                let reply = try await ServerTest.upload(server, try testCase.bundle())
                #expect(reply.status == testCase.status, "\(String(decoding: reply.body, as: UTF8.self))")
                #expect(reply.errorCode == testCase.code)
                #expect(reply.json["success"] == .bool(false))
                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
                // Nothing of the rejected upload is left behind in WORK_DIR/tmp.
                #expect(try FileManager.default.contentsOfDirectory(atPath: directory.sub("tmp")).isEmpty)
            }
        }
    }

    @Test func badRequestsAreRejectedAndChangeNothing() async throws {
        try await withTemporaryDirectory("badreq") { directory in
            try await TestServer.with(workDirectory: directory.path, configure: Self.limits) { server in
                try await Self.seed(server)
                let before = try await ServerTest.snapshot(server, workspace: "ws")
                let bundle = try TestBundle.simple(files: ["n": "n"])

                let noBundle = try await HTTP.post(server.baseURL + "/api/v1/delta/upload", json: "{}")
                #expect(noBundle.status == 415)
                #expect(noBundle.errorCode == "UNSUPPORTED_MEDIA_TYPE")

                let missingField = try await HTTP.upload(server.baseURL, bundle: bundle, fields: [])
                #expect(missingField.status == 400)
                #expect(missingField.errorCode == "INVALID_WORKSPACE")

                let relative = try await HTTP.upload(
                    server.baseURL, bundle: bundle, fields: [("workspace_path", "rel/ws")])
                #expect(relative.errorCode == "INVALID_WORKSPACE")
                let badName = try await HTTP.upload(server.baseURL, bundle: bundle, fields: [("workspace", "Bad/Name")])
                #expect(badName.errorCode == "INVALID_WORKSPACE")

                let tooBig = try await ServerTest.upload(server, [UInt8](repeating: 9, count: (4 << 20) + 10))
                #expect(tooBig.status == 413)
                #expect(tooBig.errorCode == "BUNDLE_TOO_LARGE")

                try await ServerTest.snapshot(server, workspace: "ws").expectUnchanged(since: before)
            }
        }
    }

    @Test func existingClientsRenameAsCreatedMovedDeleted() async throws {
        try await withTemporaryDirectory("rename") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                #expect(
                    try await ServerTest.upload(server, TestBundle.simple(files: ["old/a.py": "code", "dir/x": "x"]))
                        .status == 200)
                // A directory replaced by a file, created before deleted, as existing clients order it.
                var bundle = TestBundle()
                bundle.add("files/created/dir", "now a file")
                bundle.addOperations([
                    BundleOperation(operation: .created, path: "dir", contentHash: TestBundle.sha256("now a file")),
                    BundleOperation(
                        operation: .moved, path: "new/a.py", sourcePath: "old/a.py",
                        contentHash: TestBundle.sha1("code")),
                    BundleOperation(operation: .deleted, path: "old/a.py"),
                    BundleOperation(operation: .deleted, path: "dir/x"),
                ])
                bundle.addManifest(bundleID: "existing-rename")
                let reply = try await ServerTest.upload(server, try bundle.gzip())
                #expect(reply.status == 200, "\(String(decoding: reply.body, as: UTF8.self))")
                let counts = try reply.decode(UploadResponse.self).processedOperations
                #expect(counts == OperationCounts(created: 1, updated: 0, deleted: 1, moved: 1, skipped: 1, failed: 0))
                let tree = try await ServerTest.manifestTree(server, workspace: "ws").tree
                #expect(Set(tree.keys) == ["dir", "new/a.py"])
                #expect(Set(try ServerTest.materialised(directory.path, workspace: "ws").keys) == ["dir", "new/a.py"])
            }
        }
    }
}
