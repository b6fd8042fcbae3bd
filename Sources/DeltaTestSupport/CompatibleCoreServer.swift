import DeltaCore
import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// A stand-in for the existing Python upload service, which speaks only the compatible core.
/// It answers exactly as that service does on the wire: status without `success`, `workspace`,
/// index fields or extra limits; upload replies with `null` counts and no `duplicate`; every
/// error as `200 {"success": false, "error": {...}}`; server-assigned sequences (no sequence →
/// last + 1), `SEQUENCE_MISMATCH` as 200, `force` setting the counter to the number sent, no
/// `bundle_id` dedupe; and `404 {"detail": "Not Found"}` for our extension endpoints.
///
/// Workspaces are known by `workspace_path` only; each one's tree lands in `tree(for:)`.
public final class CompatibleCoreServer: Sendable {
    public let port: Int
    public let directory: String
    public var baseURL: String { "http://127.0.0.1:\(port)" }

    private struct Workspace: Sendable {
        var lastSequence: Int64 = 0
        var lastUpload: String?
    }

    private struct Shared: Sendable {
        var workspaces: [String: Workspace] = [:]
        var requests: [String] = []
        var forcedUploads = 0
        var appliedUploads = 0
        var repliesToDrop = 0
    }

    private let shared = Mutex(Shared())

    private init(port: Int, directory: String) {
        self.port = port
        self.directory = directory
    }

    /// Every request seen, as `METHOD /path` (no query).
    public var requests: [String] { shared.withLock { $0.requests } }
    /// Uploads applied, and how many of them had `force=true`.
    public var appliedUploads: Int { shared.withLock { $0.appliedUploads } }
    public var forcedUploads: Int { shared.withLock { $0.forcedUploads } }

    /// The workspace's sequence counter.
    public func lastSequence(for workspacePath: String) -> Int64 {
        shared.withLock { $0.workspaces[workspacePath]?.lastSequence ?? 0 }
    }

    /// Where the workspace's files land.
    public func tree(for workspacePath: String) -> String {
        directory + "/trees/" + WorkspaceIdentity.collectionName(forPath: workspacePath)
    }

    /// The next `count` uploads are applied, then their connection drops before the reply (a
    /// lost reply: the change is in, the client does not know).
    public func dropRepliesAfterApplying(_ count: Int) { shared.withLock { $0.repliesToDrop = count } }

    /// Forgets a workspace's counter (and keeps its files), as a restored service would.
    public func setSequence(_ sequence: Int64, for workspacePath: String) {
        shared.withLock { $0.workspaces[workspacePath, default: Workspace()].lastSequence = sequence }
    }

    /// Starts the server on `127.0.0.1` port 0, runs `body`, stops it.
    @discardableResult
    public static func with<T: Sendable>(
        directory: String, _ body: @Sendable (CompatibleCoreServer) async throws -> T
    ) async throws -> T {
        try FileSystem.createDirectory(directory)
        try FileSystem.createDirectory(directory + "/trees")
        try FileSystem.createDirectory(directory + "/spool")
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let holder = Mutex<CompatibleCoreServer?>(nil)
        let router = Router()
        router.add(middleware: NotFoundMiddleware())
        router.add(middleware: RecordingMiddleware { line in holder.withLock { $0 }?.record(line) })
        router.get("/health") { _, _ in Self.json(["status": .string("healthy")]) }
        router.get("/api/v1/delta/status") { request, _ -> Response in
            guard let server = holder.withLock({ $0 }) else { throw HTTPError(.serviceUnavailable) }
            return server.status(request)
        }
        router.post("/api/v1/delta/upload") { request, _ -> Response in
            guard let server = holder.withLock({ $0 }) else { throw HTTPError(.serviceUnavailable) }
            return try await server.upload(request)
        }
        var logger = Logger(label: "deltasync.test.compatible-core")
        logger.logLevel = .critical
        let application = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) }, logger: logger
        )
        return try await Serving.run({ try await application.run() }, ports: ports) { port in
            let server = CompatibleCoreServer(port: port, directory: directory)
            holder.withLock { $0 = server }
            return try await body(server)
        }
    }

    private func record(_ line: String) { shared.withLock { $0.requests.append(line) } }

    // MARK: - Endpoints

    private func status(_ request: Request) -> Response {
        guard let path = request.uri.queryParameters["workspace_path"].map(String.init) else {
            return Self.json(
                [
                    "detail": .array([
                        .object([
                            "loc": .array([.string("query"), .string("workspace_path")]),
                            "msg": .string("field required"),
                        ])
                    ])
                ], status: .unprocessableContent)
        }
        let workspace = shared.withLock { $0.workspaces[path] ?? Workspace() }
        return Self.json([
            "workspace_path": .string(path),
            "collection_name": .string(WorkspaceIdentity.collectionName(forPath: path)),
            "last_sequence": .int(workspace.lastSequence),
            "last_upload": workspace.lastUpload.map(JSONValue.string) ?? .null,
            "pending_operations": .int(0),
            "status": .string("ready"),
            "server_info": .object([
                "version": .string("1.0.0"), "max_bundle_size_mb": .int(100),
                "supported_formats": .array([.string("tar.gz")]),
            ]),
        ])
    }

    private func upload(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 256 << 20)
        guard let contentType = request.headers[.contentType],
            let boundary = contentType.split(separator: ";").compactMap({ part -> String? in
                let trimmed = part.trimmingCharacters(in: .whitespaces)
                return trimmed.hasPrefix("boundary=")
                    ? String(trimmed.dropFirst(9)).trimmingCharacters(
                        in: CharacterSet(charactersIn: "\"")) : nil
            }).first
        else { return Self.failure("PROCESSING_ERROR", "Expected multipart/form-data") }
        let parts = Multipart.parse(Array(body.readableBytesView), boundary: boundary)
        guard let workspacePath = parts["workspace_path"].map({ String(decoding: $0, as: UTF8.self) }) else {
            return Self.json(["detail": .string("workspace_path is required")], status: .unprocessableContent)
        }
        guard let bundle = parts["bundle"] else { return Self.failure("PROCESSING_ERROR", "No bundle file") }
        let sent = parts["sequence_number"].flatMap { Int64(String(decoding: $0, as: UTF8.self)) }
        let force = parts["force"].map { ["true", "1", "True"].contains(String(decoding: $0, as: UTF8.self)) } ?? false

        let spool = directory + "/spool/" + UUID().uuidString
        try FileSystem.createDirectory(spool)
        defer { FileSystem.removeTree(spool) }
        try FileSystem.writeAtomically(spool + "/bundle.tar.gz", bundle)
        // One upload at a time per server: sequences stay contiguous, as the real service's lock.
        let last = shared.withLock { $0.workspaces[workspacePath]?.lastSequence ?? 0 }
        let sequence: Int64
        if let sent, force {
            sequence = sent
        } else if let sent, sent != last + 1 {
            return Self.json([
                "success": .bool(false),
                "error": .object([
                    "code": .string("SEQUENCE_MISMATCH"),
                    "message": .string("Sequence mismatch: expected \(last + 1), got \(sent)"),
                    "expected_sequence": .int(last + 1),
                ]),
            ])
        } else {
            sequence = last + 1
        }
        // The existing service opens every bundle as `tar.gz`; it reads no other format.
        guard bundle.starts(with: [0x1F, 0x8B]) else {
            return Self.failure("PROCESSING_ERROR", "Invalid bundle format: not a gzip file")
        }
        let bundleID: String
        do {
            let validated = try BundleReader(temporaryDirectory: spool).read(path: spool + "/bundle.tar.gz")
            defer { validated.discard() }
            bundleID = validated.manifest.bundleID
            try apply(validated, to: tree(for: workspacePath))
        } catch let error as DeltaError {
            return Self.failure("PROCESSING_ERROR", "Invalid bundle format: \(error.message)")
        }
        let drop = shared.withLock { shared in
            shared.workspaces[workspacePath, default: Workspace()].lastSequence = sequence
            shared.workspaces[workspacePath, default: Workspace()].lastUpload = ISO8601DateFormatter().string(
                from: Date())
            shared.appliedUploads += 1
            if force { shared.forcedUploads += 1 }
            guard shared.repliesToDrop > 0 else { return false }
            shared.repliesToDrop -= 1
            return true
        }
        if drop {
            // The head goes out, the body never does: the connection closes under the client.
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(contentLength: 200) { _ in throw CancellationError() })
        }
        return Self.json([
            "success": .bool(true), "bundle_id": .string(bundleID), "sequence_number": .int(sequence),
            "processed_operations": .null, "processing_time_ms": .null, "next_sequence": .int(sequence + 1),
            "error": .null,
        ])
    }

    /// Applies as the existing service does: writes content, deletes what is there (a missing
    /// path is skipped), moves with content write the target and remove the source, moves
    /// without content rename.
    private func apply(_ bundle: ValidatedBundle, to tree: String) throws {
        try FileSystem.createDirectory(tree)
        for item in bundle.operations {
            let operation = item.operation
            let target = tree + "/" + operation.path
            switch operation.operation {
            case .created, .updated, .moved:
                try FileManager.default.createDirectory(
                    atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                if let content = item.content {
                    unlink(target)
                    try FileSystem.copyFile(content.path, to: target)
                    chmod(target, item.isExecutable ? 0o755 : 0o644)
                    if operation.operation == .moved, let source = operation.sourcePath { unlink(tree + "/" + source) }
                } else if operation.operation == .moved, let source = operation.sourcePath {
                    guard rename(tree + "/" + source, target) == 0 else {
                        throw DeltaError(.contentMissing, "move source \(source) does not exist")
                    }
                }
            case .deleted:
                unlink(target)
            }
        }
    }

    // MARK: - Replies

    static func json(_ object: [String: JSONValue], status: HTTPResponse.Status = .ok) -> Response {
        let data = (try? JSONEncoder().encode(JSONValue.object(object))) ?? Data()
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    static func failure(_ code: String, _ message: String) -> Response {
        json([
            "success": .bool(false), "error": .object(["code": .string(code), "message": .string(message)]),
        ])
    }
}

/// FastAPI's answer for routes it does not have.
private struct NotFoundMiddleware: RouterMiddleware {
    func handle(
        _ request: Request, context: BasicRequestContext, next: (Request, BasicRequestContext) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            return CompatibleCoreServer.json(["detail": .string("Not Found")], status: .notFound)
        } catch let error as HTTPError where error.status == .methodNotAllowed {
            return CompatibleCoreServer.json(["detail": .string("Method Not Allowed")], status: .methodNotAllowed)
        }
    }
}

private struct RecordingMiddleware: RouterMiddleware {
    let record: @Sendable (String) -> Void
    func handle(
        _ request: Request, context: BasicRequestContext, next: (Request, BasicRequestContext) async throws -> Response
    ) async throws -> Response {
        record("\(request.method) \(request.uri.path)")
        return try await next(request, context)
    }
}

/// Just enough `multipart/form-data` for a test server: the whole body in memory, parts by name.
enum Multipart {
    static func parse(_ body: [UInt8], boundary: String) -> [String: [UInt8]] {
        let delimiter = Array(("--" + boundary).utf8)
        var parts: [String: [UInt8]] = [:]
        var positions: [Int] = []
        var index = 0
        while let found = find(delimiter, in: body, from: index) {
            positions.append(found)
            index = found + delimiter.count
        }
        for (start, end) in zip(positions, positions.dropFirst()) {
            var part = Array(body[(start + delimiter.count)..<end])
            if part.starts(with: [13, 10]) { part.removeFirst(2) }
            if part.suffix(2) == [13, 10] { part.removeLast(2) }
            guard let split = find([13, 10, 13, 10], in: part, from: 0) else { continue }
            let head = String(decoding: part[..<split], as: UTF8.self)
            guard let nameRange = head.range(of: "name=\"") else { continue }
            let name = String(head[nameRange.upperBound...].prefix { $0 != "\"" })
            parts[name] = Array(part[(split + 4)...])
        }
        return parts
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard needle.count <= haystack.count, start <= haystack.count - needle.count else { return nil }
        var index = start
        while index <= haystack.count - needle.count {
            if haystack[index] == needle[0], Array(haystack[index..<(index + needle.count)]) == needle { return index }
            index += 1
        }
        return nil
    }
}
