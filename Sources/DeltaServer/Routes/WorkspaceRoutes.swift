import DeltaCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// What a person or a page browses: `GET /api/v1/workspaces` (filtered by the token's scope)
/// and `POST`/`DELETE /api/v1/session`, which turns a token into an HttpOnly, SameSite=Strict
/// cookie so a page never puts a token in a URL. The cookie is accepted on GET read endpoints
/// only (`AuthMiddleware`).
struct WorkspaceRoutes: Sendable {
    let storage: any WorkspaceLog & FileTableStore
    let authority: TokenAuthority
    let configuration: ServerConfiguration
    let indexer: GraphIndexer

    static let cookieName = "deltasync_session"

    func register(on router: Router<DeltaRequestContext>) {
        router.get("/api/v1/workspaces") { _, context in try await workspaces(context) }
        router.post("/api/v1/session") { request, _ in try await startSession(request) }
        router.delete("/api/v1/session") { _, _ in endSession() }
    }

    struct Summary: Encodable {
        var workspace: String
        var lastSequence: Int64
        var fileCount: Int
        var lastUpload: String?
        var uploadsPerMinute: Int
        var indexedSequence: Int64
        var indexStatus: String
        var pendingOperations: Int

        enum CodingKeys: String, CodingKey {
            case workspace
            case lastSequence = "last_sequence"
            case fileCount = "file_count"
            case lastUpload = "last_upload"
            case uploadsPerMinute = "uploads_per_minute"
            case indexedSequence = "indexed_sequence"
            case indexStatus = "index_status"
            case pendingOperations = "pending_operations"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(workspace, forKey: .workspace)
            try container.encode(lastSequence, forKey: .lastSequence)
            try container.encode(fileCount, forKey: .fileCount)
            try container.encode(lastUpload, forKey: .lastUpload)
            try container.encode(uploadsPerMinute, forKey: .uploadsPerMinute)
            try container.encode(indexedSequence, forKey: .indexedSequence)
            try container.encode(indexStatus, forKey: .indexStatus)
            try container.encode(pendingOperations, forKey: .pendingOperations)
        }
    }

    /// Every workspace the caller may read, with its sequence, size and upload rate.
    func workspaces(_ context: DeltaRequestContext) async throws -> Response {
        if context.authRequired { try TokenAuthority.authorizeScope(context.token, scope: .read) }
        let minuteAgo = Timestamp.string(Date().addingTimeInterval(-60))
        var summaries: [Summary] = []
        for record in try await storage.workspaces() {
            if context.authRequired, let token = context.token, token.workspace != "*", token.workspace != record.key {
                continue
            }
            let progress = indexer.progress(of: record)
            summaries.append(
                Summary(
                    workspace: record.key, lastSequence: record.lastSequence,
                    fileCount: try await storage.fileCount(workspace: record.key), lastUpload: record.lastUpload,
                    uploadsPerMinute: try await storage.changeCount(workspace: record.key, appliedSince: minuteAgo),
                    indexedSequence: record.indexedSequence, indexStatus: progress.status,
                    pendingOperations: progress.pendingOperations))
        }
        return try JSONReply.make(["workspaces": summaries])
    }

    struct SessionRequest: Decodable { var token: String }

    /// Checks the posted token and sets it as the session cookie.
    func startSession(_ request: Request) async throws -> Response {
        let body = try await request.body.collect(upTo: 64 << 10)
        guard let input = try? JSONDecoder().decode(SessionRequest.self, from: Data(body.readableBytesView)) else {
            throw DeltaError(.invalidRequest, "a session needs a JSON body {\"token\": \"...\"}")
        }
        let token = try await authority.resolve(input.token.trimmingCharacters(in: .whitespaces))
        let secure = configuration.tlsCertificatePath != nil ? "; Secure" : ""
        var headers: HTTPFields = [.contentType: "application/json"]
        headers[.setCookie] =
            "\(Self.cookieName)=\(input.token.trimmingCharacters(in: .whitespaces)); Path=/; HttpOnly; "
            + "SameSite=Strict; Max-Age=86400\(secure)"
        let reply = try JSONReply.encoder.encode([
            "workspace": token.workspace, "scope": token.scope.rawValue,
        ])
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: reply)))
    }

    func endSession() -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        headers[.setCookie] = "\(Self.cookieName)=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
        return Response(
            status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: "{\"success\":true}")))
    }
}
