@testable import DeltaClient
import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// `--compression`: bundles go uncompressed to our server on loopback, as `tar.gz` everywhere
/// else, and always as `tar.gz` to a server that does not list `tar`.
@Suite struct CompressionTests {
    static let ours = ServerInfo(version: "test", limits: BundleLimits())
    static let core = ServerInfo(version: "test", limits: BundleLimits(), features: nil)

    @Test func loopbackIsRecognisedByAddress() {
        for url in [
            "http://127.0.0.1:8002", "http://127.5.6.7", "https://localhost:9000/", "http://LOCALHOST",
            "http://[::1]:8002", "http://api.localhost:1",
        ] {
            #expect(BundleCompression.isLoopback(url), "\(url)")
        }
        for url in [
            "http://10.0.0.1:8002", "https://sync.example.com", "http://127.0.0.1.example.com",
            "http://128.0.0.1", "http://[::2]:1", "not a url", "http://127.0.0.256",
        ] {
            #expect(!BundleCompression.isLoopback(url), "\(url)")
        }
    }

    @Test func formatFollowsTheChoiceTheServerAndItsAddress() {
        let local = BundleCompression.isLoopback("http://127.0.0.1:8002")
        let remote = BundleCompression.isLoopback("https://sync.example.com")
        #expect(BundleCompression.auto.format(loopback: local, info: Self.ours, kind: .deltasync) == .tar)
        #expect(BundleCompression.auto.format(loopback: remote, info: Self.ours, kind: .deltasync) == .tarGz)
        #expect(BundleCompression.none.format(loopback: remote, info: Self.ours, kind: .deltasync) == .tar)
        #expect(BundleCompression.gzip.format(loopback: local, info: Self.ours, kind: .deltasync) == .tarGz)
        // The existing service reads tar.gz only, whatever was asked for.
        for choice in BundleCompression.allCases {
            #expect(choice.format(loopback: local, info: Self.core, kind: .compatibleCore) == .tarGz)
        }
        // A server of ours from before `tar` was supported still gets tar.gz.
        var older = Self.ours
        older.supportedFormats = ["tar.gz"]
        #expect(BundleCompression.none.format(loopback: local, info: older, kind: .deltasync) == .tarGz)
    }

    /// The stored original bundle of `sequence`, and the media type it is served as.
    static func storedBundle(_ server: TestServer, _ sequence: Int) async throws -> (bytes: [UInt8], type: String?) {
        let reply = try await HTTP.get(server.baseURL + "/api/v1/delta/bundles/\(sequence)?workspace=ws")
        #expect(reply.status == 200)
        return (reply.body, reply.headers.first { $0.0.lowercased() == "content-type" }?.1)
    }

    @Test func pushSendsPlainTarsOnLoopbackAndGzipWhenAsked() async throws {
        try await withTemporaryDirectory("compression") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                try tree.write("src/a.swift", String(repeating: "let a = 1\n", count: 500))
                try tree.write("bin/run", "#!/bin/sh\n", mode: 0o755)
                #expect(try await PushTest.push(tree, server).sequence == 1)
                let first = try await Self.storedBundle(server, 1)
                #expect(try first.bytes.withUnsafeBytes { try BundleFormat.detect($0) } == .tar)
                #expect(first.type == "application/x-tar")
                try PushTest.expectInSync(tree, server)

                try tree.write("src/a.swift", String(repeating: "let b = 2\n", count: 500))
                var configuration = PushTest.configuration(tree, server)
                configuration.compression = .gzip
                let report = try await PushSession(configuration: configuration, logger: PushTest.logger).run()
                #expect(report.sequence == 2)
                let second = try await Self.storedBundle(server, 2)
                #expect(try second.bytes.withUnsafeBytes { try BundleFormat.detect($0) } == .tarGz)
                #expect(second.type == "application/gzip")
                #expect(second.bytes.count < 5000 / 2, "gzip should shrink 5,000 repetitive bytes")
                try PushTest.expectInSync(tree, server)

                // The outbox names each bundle after its format (the upload's media type follows it).
                let outbox = try FileManager.default.contentsOfDirectory(atPath: tree.root + "/.deltasync/outbox")
                #expect(outbox.filter { $0.hasSuffix(".tar") }.count == 1, "\(outbox)")
                #expect(outbox.filter { $0.hasSuffix(".tar.gz") }.count == 1, "\(outbox)")
                for name in outbox {
                    let format = try BundleFormat.detect(fileAt: tree.root + "/.deltasync/outbox/" + name)
                    #expect(name.hasSuffix(format.fileExtension), "\(name) is a \(format)")
                }
            }
        }
    }
}
