@testable import DeltaClient
import DeltaCore
import DeltaTestSupport
import Foundation
import NIOCore
import Testing

/// A bundle up to `DeltaAPI.inlineBodyLimit` goes out from memory in one piece; a larger one
/// streams from its file. Both must reach the server whole.
@Suite struct UploadBodyTests {
    @Test func aWholeBodyIsTheHeadTheFileAndTheTail() async throws {
        try await withTemporaryDirectory("body") { directory in
            let content = (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
            let path = try directory.write("bundle.tar", content)
            let buffer = try MultipartFileBody.whole(
                head: "--b\r\nhead\r\n\r\n", path: path, size: Int64(content.count), tail: "\r\n--b--\r\n")
            let expected = Array("--b\r\nhead\r\n\r\n".utf8) + content + Array("\r\n--b--\r\n".utf8)
            #expect(Array(buffer.readableBytesView) == expected)
        }
    }

    @Test func aFileShorterThanItWasMeasuredIsRefusedAndLeftAlone() async throws {
        try await withTemporaryDirectory("body") { directory in
            let path = try directory.write("bundle.tar", Array("short".utf8))
            #expect {
                _ = try MultipartFileBody.whole(head: "h", path: path, size: 10, tail: "t")
            } throws: { error in
                (error as? DeltaError)?.message.contains("\(path) is shorter than the 10 bytes") == true
            }
            #expect(try FileSystem.readAll(path) == Array("short".utf8))
        }
    }

    @Test func smallBundlesGoInOnePieceAndLargeOnesStreamBothArriveWhole() async throws {
        try await withTemporaryDirectory("body-push") { directory in
            try await TestServer.with(workDirectory: directory.sub("server")) { server in
                let tree = try WorkspaceTree(root: directory.sub("ws"))
                var random = SplitMix64(seed: 5)
                func noise(_ count: Int) -> [UInt8] {
                    (0..<count).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                }
                try tree.write("big.bin", noise(3 << 20))
                try tree.write("small.txt", "one\n")
                try await PushTest.push(tree, server)
                try PushTest.expectInSync(tree, server)

                // Incompressible: the bundle stays above the limit and streams from its file.
                try tree.write("big.bin", noise(3 << 20))
                let large = try await PushTest.push(tree, server)
                #expect(large.updated == 1 && large.bytesSent > DeltaAPI.inlineBodyLimit)
                try PushTest.expectInSync(tree, server)

                try tree.write("small.txt", "two\n")
                let small = try await PushTest.push(tree, server)
                #expect(small.updated == 1 && small.bytesSent > 0 && small.bytesSent <= DeltaAPI.inlineBodyLimit)
                try PushTest.expectInSync(tree, server)
            }
        }
    }
}
