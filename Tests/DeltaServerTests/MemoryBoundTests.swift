import DeltaCore
import DeltaTestSupport
import Foundation
import Testing

/// The memory rows of the attack review, against the real binary: peak RSS read from
/// `/proc/<pid>/status` after hostile uploads stays far under what they used to cost (1.9 GB for
/// 5 M delete operations, 420 MiB for unauthenticated form fields). Generous bounds, no timing.
@Suite(.serialized) struct MemoryBoundTests {
    static func peakRSS(_ pid: Int32) throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    @Test func hostileOperationsAndFieldsKeepPeakMemoryBounded() async throws {
        try await withTemporaryDirectory("memory") { directory in
            let server = try await ServerProcess.start(workDirectory: directory.path)
            defer { server.stop() }
            let pid = server.process.processIdentifier

            // 1.5 M delete operations in 50 MB of JSON (a 1 MB upload): refused at the cap.
            var operations = "{\"operations\":["
            operations.reserveCapacity(60 << 20)
            for index in 0..<1_500_000 {
                if index > 0 { operations += "," }
                operations += "{\"operation\":\"deleted\",\"path\":\"p\(index)\"}"
            }
            operations += "]}"
            var bundle = TestBundle()
            bundle.addManifest(bundleID: "many-deletes")
            bundle.add("metadata/operations.json", operations)
            let reply = try await HTTP.upload(
                server.baseURL, bundle: try bundle.gzip(), fields: [("workspace", "ws")])
            #expect(reply.status == 413)
            #expect(reply.errorCode == "TOO_MANY_ENTRIES")

            // With auth on, four connections of 1,500 × 64 KiB fields and no token.
            let token = try await ServerProcess.run([
                "token", "create", "--workspace", "*", "--scope", "write", "--work-dir", directory.path,
            ])
            #expect(token.status == 0)
            let field = String(repeating: "v", count: 64 * 1024 - 10)
            await withTaskGroup(of: Void.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        _ = try? await HTTP.upload(
                            server.baseURL, bundle: [1], fields: (0..<1500).map { ("f\($0)", field) })
                    }
                }
            }
            #expect(try await HTTP.get(server.baseURL + "/health").status == 200)
            let peak = try Self.peakRSS(pid)
            #expect(peak > 0)
            #expect(peak < 400 << 20, "peak RSS \(peak >> 20) MiB")
        }
    }
}
