import DeltaCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1

/// Parsing shared by the route collections: workspace parameters, numbers, form fields, files.
enum RouteParameters {
    /// `workspace` (a name) or `workspace_path` from the query string.
    static func workspace(_ request: Request) throws -> (key: String, path: String?) {
        let query = request.uri.queryParameters
        let name = query["workspace"].map(String.init)
        let path = query["workspace_path"].map(String.init)
        let key = try WorkspaceIdentity.resolve(name: name, path: path)
        return (key, try path.flatMap { $0.isEmpty ? nil : try WorkspaceIdentity.normalise(path: $0) })
    }

    static func sequenceField(_ text: String?) throws -> Int64? {
        guard let text = text?.trimmingCharacters(in: .whitespaces), !text.isEmpty, text != "null", text != "None"
        else {
            return nil
        }
        guard let value = Int64(text), value > 0 else {
            throw DeltaError(.invalidRequest, "sequence_number must be a positive integer, got '\(text.prefix(40))'")
        }
        return value
    }

    static func boolField(_ text: String?) throws -> Bool {
        switch text?.trimmingCharacters(in: .whitespaces) {
        case nil, "": return false
        case "true", "True", "TRUE", "1": return true
        case "false", "False", "FALSE", "0": return false
        case let other?:
            throw DeltaError(.invalidRequest, "force must be true/false/1/0, got '\(other.prefix(40))'")
        }
    }

    static func integer(_ text: String?, name: String, default value: Int64, range: ClosedRange<Int64>) throws -> Int64
    {
        guard let text, !text.isEmpty else { return value }
        guard let parsed = Int64(text), range.contains(parsed) else {
            throw DeltaError(.invalidRequest, "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return parsed
    }

    /// A stored file as the reply body.
    static func file(_ path: String, type: String, context: DeltaRequestContext) async throws -> Response {
        let size = (try? RawFile.open(reading: path).size()) ?? -1
        guard size >= 0 else { throw DeltaError(.notFound, "stored content is missing") }
        let body = try await FileIO().loadFile(path: path, context: context)
        return Response(status: .ok, headers: [.contentType: type, .contentLength: String(size)], body: body)
    }

    /// A small request body, at most `limit` bytes: a declared or actual larger one is
    /// `tooLarge`, answered with a lingering close (the rest is never read). A malformed body
    /// stays the parser's 400.
    static func smallBody(_ request: Request, _ context: DeltaRequestContext, limit: Int, tooLarge: DeltaError)
        async throws -> ByteBuffer
    {
        do {
            if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit { throw tooLarge }
            context.sendContinueIfExpected(request)
            return try await request.body.collect(upTo: limit)
        } catch let error as HTTPParserError {
            throw error
        } catch {
            throw UploadRejection(error: tooLarge, bodyUnread: true)
        }
    }
}
