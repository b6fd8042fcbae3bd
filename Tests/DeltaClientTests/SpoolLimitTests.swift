import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

/// A server holds at most half its descriptor limit of anonymous spool files; the rest of a
/// bundle's files are spooled to named files. With a limit of 256, a bundle of 600 files would
/// run the server out of descriptors if that cap did not hold, and lose files if the named
/// spool files were not stored beside the anonymous ones.
@Suite struct SpoolLimitTests {
    @Test func aBundleOfMoreFilesThanAnonymousSpoolFilesLandsWholeAndLeavesNothingInTmp() async throws {
        try await withTemporaryDirectory("spool-limit") { directory in
            let work = directory.sub("server")
            let server = try await ServerProcess.start(
                workDirectory: work, launcher: ["/usr/bin/prlimit", "--nofile=256:256", "--"])
            defer { server.stop() }
            let tree = try WorkspaceTree(root: directory.sub("ws"))
            for index in 0..<600 { try tree.write("d\(index % 7)/f\(index).txt", "file \(index)\n") }
            let pushed = try await ServerProcess.run([
                "push", tree.root, "--server", server.baseURL, "--workspace", "ws", "--json",
            ])
            #expect(pushed.status == 0, "\(pushed.stderr)")
            let report = try JSONSerialization.jsonObject(with: Data(pushed.stdout.utf8)) as? [String: Any]
            #expect(report?["bundles"] as? Int == 1, "one bundle of 600 files: \(pushed.stdout)")
            let remote = try WorkspaceTree.snapshot(work + "/workspaces/ws")
            #expect(remote.count == 600)
            #expect(remote == (try WorkspaceTree.snapshot(tree.root, excluding: [".deltasync"])))
            #expect(try FileManager.default.contentsOfDirectory(atPath: work + "/tmp").isEmpty)
        }
    }
}
