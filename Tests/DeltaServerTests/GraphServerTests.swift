import DeltaCore
import DeltaGraph
import DeltaServer
import DeltaTestSupport
import Foundation
import Logging
import Synchronization
import Testing

/// The server's code graph: it follows every applied bundle on its own cursor, answers the
/// queries, publishes invalidation records on its stream, and resumes after a restart mid-queue.
@Suite struct GraphServerTests {
    static let sample: [String: String] = [
        "include/linux/types.h": "#ifndef TYPES_H\n#define TYPES_H\ntypedef unsigned int u32;\n#endif\n",
        "include/linux/list.h":
            "#include <linux/types.h>\nstruct list_head { struct list_head *next; };\nvoid list_add(struct list_head *n);\n",
        "kernel/sched.c":
            "#include <linux/list.h>\n#include \"sched.h\"\n/* #include <linux/gone.h> */\nint schedule(void) { return 0; }\n",
        "kernel/sched.h": "int schedule(void);\n",
        "kernel/leaf.c": "static int helper(int x) { return x; }\nint leaf(void) { return helper(1); }\n",
        "tools/app.py": "import os\nfrom tools import util\n\ndef main(argv):\n    return util.run(argv)\n",
        "tools/util.py": "def run(argv):\n    return 0\n",
        "tools/__init__.py": "",
    ]

    /// Polls `/status` until the graph has indexed everything uploaded (no timed assertion: the
    /// test fails only if indexing never catches up).
    static func waitIndexed(_ server: TestServer, workspace: String = "ws", headers: [(String, String)] = [])
        async throws
        -> [String: JSONValue]
    {
        for _ in 0..<3000 {
            let status = try await HTTP.get(
                server.baseURL + "/api/v1/delta/status?workspace=\(workspace)", headers: headers
            )
            .json
            if status["index_status"]?.stringValue == "ready",
                status["indexed_sequence"]?.intValue == status["last_sequence"]?.intValue
            {
                return status
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the graph never caught up")
        return [:]
    }

    static func get<T: Decodable>(_ server: TestServer, _ path: String, as type: T.Type) async throws -> T {
        let reply = try await HTTP.get(server.baseURL + path)
        #expect(reply.status == 200, "\(path): \(String(decoding: reply.body, as: UTF8.self))")
        return try reply.decode(type)
    }

    @Test func theGraphFollowsUploadsAndAnswersQueries() async throws {
        try await withTemporaryDirectory("graph") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: Self.sample)).status == 200)
                let status = try await Self.waitIndexed(server)
                #expect(status["pending_operations"]?.intValue == 0)

                let dependents = try await Self.get(
                    server, "/api/v1/graph/dependents?workspace=ws&path=include/linux/types.h&transitive=true",
                    as: GraphPathsResponse.self)
                #expect(
                    dependents.results == [
                        GraphPathResult(path: "include/linux/list.h", depth: 1),
                        GraphPathResult(path: "kernel/sched.c", depth: 2),
                    ])
                #expect(dependents.indexedSequence == 1)
                let dependencies = try await Self.get(
                    server, "/api/v1/graph/dependencies?workspace=ws&path=kernel/sched.c", as: GraphPathsResponse.self)
                #expect(dependencies.results.map(\.path) == ["include/linux/list.h", "kernel/sched.h"])
                #expect(dependencies.unresolved.isEmpty)  // the include inside a comment does not count
                let python = try await Self.get(
                    server, "/api/v1/graph/dependencies?workspace=ws&path=tools/app.py", as: GraphPathsResponse.self)
                #expect(python.results.map(\.path) == ["tools/__init__.py", "tools/util.py"])
                #expect(python.unresolved.map(\.specifier) == ["os"])

                let symbols = try await Self.get(
                    server, "/api/v1/graph/symbols?workspace=ws&path=kernel/leaf.c", as: GraphSymbolsResponse.self)
                #expect(symbols.language == "c")
                #expect(symbols.symbols.map(\.name) == ["helper", "leaf"])
                let search = try await Self.get(
                    server, "/api/v1/graph/search?workspace=ws&q=sched", as: GraphSearchResponse.self)
                #expect(search.results.first?.name == "schedule")
                #expect(search.results.first?.match == "prefix")
                let exact = try await Self.get(
                    server, "/api/v1/graph/search?workspace=ws&q=leaf", as: GraphSearchResponse.self)
                #expect(exact.results.first?.match == "exact")

                // The CLI, as a user runs it.
                let cli = try await ServerProcess.run([
                    "graph", "dependents", "include/linux/types.h", "--transitive", "--server", server.baseURL,
                    "--workspace", "ws", "--json",
                ])
                #expect(cli.status == 0, "\(cli.stderr)")
                let reply = try JSONDecoder().decode(GraphPathsResponse.self, from: Data(cli.stdout.utf8))
                #expect(reply.results.map(\.path) == ["include/linux/list.h", "kernel/sched.c"])
                let text = try await ServerProcess.run([
                    "graph", "search", "schedule", "--server", server.baseURL, "--workspace", "ws",
                ])
                #expect(text.stdout.contains("schedule\tfunction\tkernel/sched.c:4\t(exact)"), "\(text.stdout)")
                let missingPath = try await ServerProcess.run([
                    "graph", "symbols", "nope.c", "--server", server.baseURL, "--workspace", "ws",
                ])
                #expect(missingPath.status != 0)
                #expect(missingPath.stderr.contains("PATH_NOT_FOUND"))

                let unknown = try await HTTP.get(server.baseURL + "/api/v1/graph/dependents?workspace=ws&path=nope.c")
                #expect(unknown.status == 404)
                #expect(unknown.errorCode == "PATH_NOT_FOUND")
                let missing = try await HTTP.get(server.baseURL + "/api/v1/graph/dependents?workspace=ws")
                #expect(missing.status == 400)

                // Body-only edit of a leaf: one file invalidated. Interface edit of a header: its
                // transitive dependents.
                let stream = try await EventStreamReader(url: server.baseURL + "/api/v1/graph/stream?workspace=ws")
                #expect(stream.status == 200)
                _ = try await ServerTest.upload(
                    server,
                    TestBundle.simple(updates: [
                        "kernel/leaf.c":
                            "static int helper(int x) { return x + 1; }\nint leaf(void) { return helper(2); }\n"
                    ]))
                let leaf = try await stream.next(1, of: "invalidated")
                let leafRecord = try JSONDecoder().decode(
                    InvalidationRecord.self, from: Data((leaf.first?.data ?? "").utf8))
                #expect(leafRecord.invalidated == ["kernel/leaf.c"])
                #expect(leaf.first?.id == "2")
                _ = try await ServerTest.upload(
                    server,
                    TestBundle.simple(updates: [
                        "include/linux/types.h":
                            "#ifndef TYPES_H\n#define TYPES_H\ntypedef unsigned long u32;\n#endif\n"
                    ]))
                let header = try await stream.next(1, of: "invalidated")
                let headerRecord = try JSONDecoder().decode(
                    InvalidationRecord.self, from: Data((header.first?.data ?? "").utf8))
                #expect(
                    headerRecord.invalidated == ["include/linux/list.h", "include/linux/types.h", "kernel/sched.c"])
                #expect(headerRecord.changed == ["include/linux/types.h"])
                stream.close()

                // A delete: listed as changed, its dependents invalidated, the import kept unresolved.
                _ = try await ServerTest.upload(server, TestBundle.simple(deletes: ["kernel/sched.h"]))
                _ = try await Self.waitIndexed(server)
                let records = try await Self.get(
                    server, "/api/v1/graph/invalidations?workspace=ws&since=3", as: InvalidationsResponse.self)
                #expect(records.records.map(\.toSequence) == [4])
                #expect(records.records.first?.changed == ["kernel/sched.h"])
                #expect(records.records.first?.invalidated == ["kernel/sched.c"])
                let after = try await Self.get(
                    server, "/api/v1/graph/dependencies?workspace=ws&path=kernel/sched.c", as: GraphPathsResponse.self)
                #expect(after.unresolved.map(\.specifier) == ["sched.h"])
                // Resuming the graph stream from a cursor replays what came after it, once.
                let resumed = try await EventStreamReader(
                    url: server.baseURL + "/api/v1/graph/stream?workspace=ws", headers: [("Last-Event-ID", "2")])
                #expect(try await resumed.next(2, of: "invalidated").map(\.id) == ["3", "4"])
                resumed.close()
                let metrics = String(decoding: try await HTTP.get(server.baseURL + "/metrics").body, as: UTF8.self)
                for name in [
                    "deltasync_graph_update_seconds", "deltasync_graph_file_processing_seconds",
                    "deltasync_graph_queue_depth",
                ] {
                    #expect(metrics.contains(name), "\(name) missing from /metrics")
                }
            }
        }
    }

    @Test func aRestartMidQueueResumesWithoutLoss() async throws {
        try await withTemporaryDirectory("graph-restart") { directory in
            let park = Atomic<Bool>(false)
            let parked = Atomic<Int>(0)
            try await TestServer.with(
                workDirectory: directory.path,
                configure: { configuration in
                    configuration.failpoints.hook = { point, _ in
                        guard point == .graphBeforeCommit, park.load(ordering: .relaxed) else { return }
                        parked.add(1, ordering: .relaxed)
                        // Parked until the server stops: this step never commits.
                        while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(50)) }
                    }
                }
            ) { server in
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: Self.sample)).status == 200)
                _ = try await Self.waitIndexed(server)
                park.store(true, ordering: .relaxed)
                #expect(
                    try await ServerTest.upload(
                        server, TestBundle.simple(updates: ["kernel/sched.h": "int schedule(int);\n"])
                    )
                    .status == 200)
                #expect(
                    try await ServerTest.upload(
                        server, TestBundle.simple(files: ["kernel/extra.c": "#include \"sched.h\"\n"])
                    )
                    .status == 200)
                while parked.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(10)) }
                let status = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace=ws").json
                #expect(status["last_sequence"]?.intValue == 3)  // uploads never wait for indexing
                #expect(status["indexed_sequence"]?.intValue == 1)
                #expect(status["index_status"]?.stringValue == "indexing")
            }
            try await TestServer.with(workDirectory: directory.path) { server in
                _ = try await Self.waitIndexed(server)
                let records = try await Self.get(
                    server, "/api/v1/graph/invalidations?workspace=ws", as: InvalidationsResponse.self)
                // Every sequence is covered exactly once: the first server's step, then the rest.
                var next: Int64 = 1
                for record in records.records {
                    #expect(record.fromSequence == next)
                    next = record.toSequence + 1
                }
                #expect(next == 4)
                #expect(records.records.count >= 2)
                let dependents = try await Self.get(
                    server, "/api/v1/graph/dependents?workspace=ws&path=kernel/sched.h", as: GraphPathsResponse.self)
                #expect(dependents.results.map(\.path) == ["kernel/extra.c", "kernel/sched.c"])
            }
        }
    }

    @Test func aBacklogIsIndexedInStepsOfBoundedSize() async throws {
        try await withTemporaryDirectory("graph-steps") { directory in
            let hold = Atomic<Bool>(false)
            let held = Atomic<Int>(0)
            try await TestServer.with(
                workDirectory: directory.path,
                configure: { configuration in
                    configuration.failpoints.hook = { point, _ in
                        guard point == .graphBeforeCommit, hold.load(ordering: .relaxed) else { return }
                        held.add(1, ordering: .relaxed)
                        while hold.load(ordering: .relaxed) { try? await Task.sleep(for: .milliseconds(10)) }
                    }
                }
            ) { server in
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: Self.sample)).status == 200)
                _ = try await Self.waitIndexed(server)
                hold.store(true, ordering: .relaxed)
                // Sequence 2's step is held before its commit while a backlog builds behind it:
                // one bundle over the step's 1,000 paths, then three one-file bundles.
                #expect(
                    try await ServerTest.upload(server, TestBundle.simple(files: ["a.c": "int a;\n"])).status == 200)
                while held.load(ordering: .relaxed) == 0 { try await Task.sleep(for: .milliseconds(10)) }
                var many: [String: String] = [:]
                for index in 0..<1_200 { many["gen/f\(index).c"] = "int f\(index);\n" }
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: many)).status == 200)
                for name in ["x", "y", "z"] {
                    #expect(
                        try await ServerTest.upload(server, TestBundle.simple(files: ["\(name).c": "int \(name);\n"]))
                            .status == 200)
                }
                hold.store(false, ordering: .relaxed)
                _ = try await Self.waitIndexed(server)
                let records = try await Self.get(
                    server, "/api/v1/graph/invalidations?workspace=ws", as: InvalidationsResponse.self)
                let steps = records.records.map { [$0.fromSequence, $0.toSequence] }
                // The large bundle is a step of its own; the small ones after it share one.
                #expect(steps == [[1, 1], [2, 2], [3, 3], [4, 6]])
                #expect(records.records.first { $0.fromSequence == 3 }?.changedCount == 1_200)
            }
        }
    }

    /// A rebuild reads the file table a page at a time: with pages of three files it builds
    /// and persists the same graph as with one page, and its record counts every file.
    @Test func aRebuildReadInPagesGivesTheSameGraph() async throws {
        try await withTemporaryDirectory("graph-pages") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: Self.sample)).status == 200)
                _ = try await Self.waitIndexed(server)
            }
            let storage = try SQLiteStorage(path: directory.sub("deltasync.sqlite"))
            let blobs = try BlobStore(root: directory.sub("blobs"))
            var pages: [[String]] = []
            var after: String?
            while case let page = try await storage.files(workspace: "ws", after: after, limit: 3), !page.isEmpty {
                pages.append(page.map(\.path))
                after = page.last?.path
            }
            #expect(pages.map(\.count) == [3, 3, 2])
            #expect(pages.flatMap { $0 } == Self.sample.keys.sorted())
            #expect(try await storage.files(workspace: "ws").files.map(\.path) == pages.flatMap { $0 })

            func persisted() async throws -> [String] {
                let graph = try #require(try await storage.graphFiles(workspace: "ws"))
                return graph.files.map { "\($0.path) \($0.facts.fingerprint) \($0.facts.imports.count)" }.sorted()
            }
            let logger = Logger(label: "test")
            let whole = try await GraphIndexer.rebuild(
                storage: storage, blobs: blobs, workspace: "ws", logger: logger, pageSize: 1_000)
            let wholeFiles = try await persisted()
            let paged = try await GraphIndexer.rebuild(
                storage: storage, blobs: blobs, workspace: "ws", logger: logger, pageSize: 3)
            #expect(whole.files == Self.sample.count && whole.edges > 0)
            #expect(paged == whole)
            #expect(try await persisted() == wholeFiles)
            let record = try #require(try await storage.invalidations(workspace: "ws", since: 0, limit: 100).last)
            #expect(record.changedCount == Self.sample.count)
            #expect(record.changed == Self.sample.keys.sorted())
            #expect(record.invalidatedCount == Self.sample.count)
        }
    }

    @Test func graphQueriesNeedReadAccessWhenAuthIsOn() async throws {
        try await withTemporaryDirectory("graph-auth") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                _ = try await ServerTest.upload(server, TestBundle.simple(files: Self.sample))
                let reader = try await AuthTests.token(directory.path, workspace: "ws", scope: "read")
                let other = try await AuthTests.token(directory.path, workspace: "other", scope: "read")
                let auth = [("Authorization", "Bearer \(reader)")]
                _ = try await Self.waitIndexed(server, headers: auth)
                let url = server.baseURL + "/api/v1/graph/symbols?workspace=ws&path=kernel/leaf.c"
                #expect(try await HTTP.get(url).status == 401)
                #expect(try await HTTP.get(url, headers: [("Authorization", "Bearer \(other)")]).status == 403)
                #expect(try await HTTP.get(url, headers: auth).status == 200)
                let stream = try await EventStreamReader(url: server.baseURL + "/api/v1/graph/stream?workspace=ws")
                #expect(stream.status == 401)
            }
        }
    }

    @Test func aServerWithoutTheGraphSaysSo() async throws {
        try await withTemporaryDirectory("graph-off") { directory in
            try await TestServer.with(workDirectory: directory.path, configure: { $0.codeGraph = false }) { server in
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: Self.sample)).status == 200)
                let status = try await HTTP.get(server.baseURL + "/api/v1/delta/status?workspace=ws").json
                #expect(status["index_status"]?.stringValue == "none")
                #expect(status["indexed_sequence"]?.intValue == 0)
                let query = try await HTTP.get(
                    server.baseURL + "/api/v1/graph/dependents?workspace=ws&path=include/linux/types.h")
                #expect(query.status == 404)
                #expect(String(decoding: query.body, as: UTF8.self).contains("--no-graph"))
            }
        }
    }
}
