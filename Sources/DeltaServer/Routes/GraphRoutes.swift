import DeltaCore
import DeltaGraph
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import Synchronization

/// The code graph's queries under `/api/v1/graph` (DESIGN §8 "Graph details"): `dependents`,
/// `dependencies`, `symbols`, `search`, `invalidations` and the `stream` of invalidation records.
/// Every route needs read access to the workspace.
struct GraphRoutes: Sendable {
    let storage: any DeltaStorage
    let indexer: GraphIndexer
    let configuration: ServerConfiguration

    func register(on router: Router<DeltaRequestContext>) {
        let api = router.group("/api/v1/graph")
        api.get("/dependents") { request, context in try await related(request, context, dependents: true) }
        api.get("/dependencies") { request, context in try await related(request, context, dependents: false) }
        api.get("/symbols") { request, context in try await symbols(request, context) }
        api.get("/search") { request, context in try await search(request, context) }
        api.get("/invalidations") { request, context in try await invalidations(request, context) }
        api.get("/stream") { request, context in try await stream(request, context) }
    }

    /// The workspace's graph, after checking the workspace exists.
    private func graph(_ key: String) async throws -> (GraphIndexer.WorkspaceGraph, WorkspaceRecord) {
        try requireGraph()
        guard let record = try await storage.workspace(key) else {
            throw DeltaError(.notFound, "workspace '\(key)' does not exist")
        }
        return (try await indexer.graph(key), record)
    }

    private static func path(_ request: Request) throws -> String {
        guard let path = request.uri.queryParameters["path"].map(String.init), !path.isEmpty else {
            throw DeltaError(.invalidRequest, "path is required (a workspace-relative file path)")
        }
        return path
    }

    func related(_ request: Request, _ context: DeltaRequestContext, dependents: Bool) async throws -> Response {
        let (key, _) = try context.workspace(of: request, scope: .read)
        let path = try Self.path(request)
        let query = request.uri.queryParameters
        let transitive = try RouteParameters.boolField(query["transitive"].map(String.init))
        let depth = try RouteParameters.integer(
            query["depth"].map(String.init), name: "depth", default: transitive ? 1000 : 1, range: 1...1_000_000)
        let (workspaceGraph, _) = try await graph(key)
        let (known, results, unresolved) = workspaceGraph.graph.withLock { graph in
            let results =
                dependents
                ? graph.dependents(of: path, depth: Int(depth)) : graph.dependencies(of: path, depth: Int(depth))
            return (
                graph.contains(path), results.map { GraphPathResult(path: $0.path, depth: $0.depth) },
                graph.unresolvedImports(of: path).map { UnresolvedImport(specifier: $0.specifier, line: $0.line) }
            )
        }
        guard known else { throw Self.pathNotFound(key, path) }
        return try JSONReply.make(
            GraphPathsResponse(
                workspace: key, path: path, indexedSequence: workspaceGraph.indexed.load(ordering: .acquiring),
                results: results, unresolved: dependents ? [] : unresolved))
    }

    func symbols(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, _) = try context.workspace(of: request, scope: .read)
        let path = try Self.path(request)
        let (workspaceGraph, _) = try await graph(key)
        let (known, node) = workspaceGraph.graph.withLock { ($0.contains(path), $0.node(path)) }
        guard known else { throw Self.pathNotFound(key, path) }
        let symbols = try await storage.symbols(workspace: key, paths: [path])[path] ?? []
        return try JSONReply.make(
            GraphSymbolsResponse(
                path: path, language: node?.language.rawValue ?? "none", fingerprint: node?.fingerprint ?? "",
                symbols: symbols.map {
                    GraphSymbol(name: $0.name, kind: $0.kind, line: $0.line, signature: $0.signature)
                }
            ))
    }

    func search(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, _) = try context.workspace(of: request, scope: .read)
        try requireGraph()
        let query = request.uri.queryParameters
        guard let text = query["q"].map(String.init), !text.isEmpty else {
            throw DeltaError(.invalidRequest, "q is required (a symbol name, or part of one)")
        }
        let limit = try RouteParameters.integer(
            query["limit"].map(String.init), name: "limit", default: 50, range: 1...1000)
        guard try await storage.workspace(key) != nil else {
            throw DeltaError(.notFound, "workspace '\(key)' does not exist")
        }
        let results = try await storage.searchSymbols(workspace: key, query: text, limit: Int(limit))
        return try JSONReply.make(GraphSearchResponse(results: results))
    }

    func invalidations(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, _) = try context.workspace(of: request, scope: .read)
        try requireGraph()
        let query = request.uri.queryParameters
        let since = try RouteParameters.integer(
            query["since"].map(String.init), name: "since", default: 0, range: 0...Int64.max)
        let limit = try RouteParameters.integer(
            query["limit"].map(String.init), name: "limit", default: 100, range: 1...1000)
        let page = try await storage.invalidations(workspace: key, since: since, limit: Int(limit) + 1)
        return try JSONReply.make(
            InvalidationsResponse(records: Array(page.prefix(Int(limit))), hasMore: page.count > Int(limit)))
    }

    func requireGraph() throws {
        guard configuration.codeGraph else {
            throw DeltaError(.notFound, "this server keeps no code graph (it was started with --no-graph)")
        }
    }

    static func pathNotFound(_ key: String, _ path: String) -> DeltaError {
        DeltaError(.pathNotFound, "workspace '\(key)' has no file '\(path)' in its code graph")
    }

    /// `GET /api/v1/graph/stream`: one `invalidated` event per record, `id:` = its
    /// `to_sequence`; resumes after `Last-Event-ID` or `since` (neither: from now) with no gap
    /// and no duplicate (subscribe first, then send the backlog, then only what is past the
    /// cursor) — the change stream's rules.
    func stream(_ request: Request, _ context: DeltaRequestContext) async throws -> Response {
        let (key, _) = try context.workspace(of: request, scope: .read)
        try requireGraph()
        let resumeFrom = HTTPField.Name("Last-Event-ID").flatMap { request.headers[$0] }.flatMap {
            Int64($0.trimmingCharacters(in: .whitespaces))
        }
        let since =
            try resumeFrom
            ?? request.uri.queryParameters["since"].map {
                try RouteParameters.integer(String($0), name: "since", default: 0, range: 0...Int64.max)
            }
        guard let subscription = indexer.records.subscribe(workspace: key) else {
            throw DeltaError(
                .serverBusy,
                "the server has \(configuration.maxSubscribers) graph stream subscribers already (--max-subscribers)",
                retryAfter: 5)
        }
        let start: Int64
        do {
            if let since {
                start = since
            } else {
                start = try await storage.workspace(key)?.indexedSequence ?? 0
            }
        } catch {
            subscription.end()
            throw error
        }
        let storage = self.storage
        let heartbeat = configuration.heartbeatSeconds
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        if let buffering = HTTPField.Name("X-Accel-Buffering") { headers[buffering] = "no" }
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                let beats = Task {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: .milliseconds(Int64(heartbeat * 1000)))
                        subscription.heartbeat()
                    }
                }
                defer {
                    beats.cancel()
                    subscription.end()
                }
                try await withGracefulShutdownHandler {
                    try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
                    var cursor = try await Self.sendRecords(storage, key, after: start, to: &writer)
                    for await event in subscription {
                        switch event {
                        case .heartbeat:
                            try await writer.write(ByteBuffer(string: ": hb\n\n"))
                        case .committed(let notice) where notice.sequence > cursor:
                            cursor = try await Self.sendRecords(storage, key, after: cursor, to: &writer)
                        case .committed:
                            break
                        }
                    }
                } onGracefulShutdown: {
                    subscription.end()
                }
                try await writer.finish(nil)
            })
    }

    /// Sends every record after `cursor`; returns the new cursor.
    static func sendRecords(
        _ storage: any GraphStore, _ key: String, after cursor: Int64, to writer: inout any ResponseBodyWriter
    ) async throws -> Int64 {
        var cursor = cursor
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        while true {
            let page = try await storage.invalidations(workspace: key, since: cursor, limit: 100)
            for record in page where record.toSequence > cursor {
                var text = "id: \(record.toSequence)\nevent: invalidated\ndata: "
                text += String(decoding: try encoder.encode(record), as: UTF8.self)
                text += "\n\n"
                try await writer.write(ByteBuffer(string: text))
                cursor = record.toSequence
            }
            if page.count < 100 { return cursor }
        }
    }
}
