import AsyncHTTPClient
import DeltaCore
import DeltaServer
import DeltaTestSupport
import Foundation
import NIOCore
import NIOHTTP1
import Testing

/// `GET /api/v1/workspaces` and the page's session cookie.
@Suite struct WorkspaceRoutesTests {
    @Test func workspacesAreListedWithSizeAndRate() async throws {
        try await withTemporaryDirectory("workspaces") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                #expect(
                    try await ServerTest.upload(server, TestBundle.simple(files: ["a": "a", "b": "b"])).status == 200)
                #expect(
                    try await ServerTest.upload(server, TestBundle.simple(files: ["c": "c"]), workspace: "other")
                        .status == 200)
                let reply = try await HTTP.get(server.baseURL + "/api/v1/workspaces")
                #expect(reply.status == 200)
                guard case .array(let list)? = reply.json["workspaces"] else {
                    Issue.record("no list: \(String(decoding: reply.body, as: UTF8.self))")
                    return
                }
                let rows = list.compactMap { row -> [String: JSONValue]? in
                    if case .object(let object) = row { return object }
                    return nil
                }
                #expect(rows.map { $0["workspace"]?.stringValue } == ["other", "ws"])
                #expect(rows.last?["file_count"]?.intValue == 2)
                #expect(rows.last?["last_sequence"]?.intValue == 1)
                #expect(rows.last?["uploads_per_minute"]?.intValue == 1)
                // The code graph follows every workspace on its own cursor.
                #expect(["indexing", "ready"].contains(rows.last?["index_status"]?.stringValue ?? ""))
            }
        }
    }

    /// With auth on: the list is filtered by the token's workspace; a session cookie set from a
    /// posted token works for reads and never for writes; a bad token sets no cookie.
    @Test func theSessionCookieReadsButNeverWrites() async throws {
        try await withTemporaryDirectory("session") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                #expect(try await ServerTest.upload(server, TestBundle.simple(files: ["a": "a"])).status == 200)
                #expect(
                    try await ServerTest.upload(server, TestBundle.simple(files: ["c": "c"]), workspace: "other")
                        .status == 200)
                let writer = try await AuthTests.token(directory.path, workspace: "ws", scope: "write")

                #expect(try await HTTP.get(server.baseURL + "/api/v1/workspaces").status == 401)
                let bad = try await HTTP.post(server.baseURL + "/api/v1/session", json: #"{"token":"dsk_nope"}"#)
                #expect(bad.status == 401)
                #expect(!bad.headers.contains { $0.0.lowercased() == "set-cookie" })

                let session = try await HTTP.post(server.baseURL + "/api/v1/session", json: "{\"token\":\"\(writer)\"}")
                #expect(session.status == 200)
                let cookie = try #require(session.headers.first { $0.0.lowercased() == "set-cookie" }?.1)
                #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
                let pair = String(cookie.split(separator: ";")[0])

                let listed = try await HTTP.get(server.baseURL + "/api/v1/workspaces", headers: [("Cookie", pair)])
                #expect(listed.status == 200)
                let body = String(decoding: listed.body, as: UTF8.self)
                #expect(body.contains("\"ws\"") && !body.contains("\"other\""))
                let stream = try await EventStreamReader(
                    url: server.baseURL + "/api/v1/delta/stream?workspace=ws&since=0", headers: [("Cookie", pair)])
                #expect(stream.status == 200)
                stream.close()

                // Writes ignore the cookie: the upload is unauthenticated.
                let upload = try await ServerTest.upload(
                    server, TestBundle.simple(files: ["z": "z"]), headers: [("Cookie", pair)])
                #expect(upload.status == 401)
                let status = try await HTTP.get(
                    server.baseURL + "/api/v1/delta/status?workspace=ws", headers: [("Cookie", pair)])
                #expect(status.json["last_sequence"]?.intValue == 1)

                let ended = try await HTTP.send(
                    {
                        var request = HTTPClientRequest(url: server.baseURL + "/api/v1/session")
                        request.method = .DELETE
                        return request
                    }())
                #expect(ended.headers.contains { $0.0.lowercased() == "set-cookie" && $0.1.contains("Max-Age=0") })
            }
        }
    }

    /// The page is public static HTML/JS; its data comes from the read API with the session
    /// cookie, the live list from `EventSource` on the stream. (Driving it in a real browser is
    /// still to come.)
    @Test func thePageIsServedPubliclyAndReadsTheAPI() async throws {
        try await withTemporaryDirectory("page") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                _ = try await AuthTests.token(directory.path, workspace: "*", scope: "read")
                let page = try await HTTP.get(server.baseURL + "/")
                #expect(page.status == 200)
                #expect(page.headers.contains { $0.0.lowercased() == "content-type" && $0.1.hasPrefix("text/html") })
                let html = String(decoding: page.body, as: UTF8.self)
                for hook in ["/api/v1/workspaces", "/api/v1/session", "new EventSource(", "/api/v1/delta/manifest"] {
                    #expect(html.contains(hook), "\(hook)")
                }
                #expect(!html.contains("?token="))
            }
        }
    }
}
