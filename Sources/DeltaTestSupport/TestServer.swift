public import AsyncHTTPClient
public import DeltaCore
public import DeltaServer
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// The real server, in process, on `127.0.0.1` port 0, with a real SQLite file under a
/// temporary `WORK_DIR`.
public struct TestServer: Sendable {
    public let port: Int
    public let prepared: DeltaServer.Prepared
    public let configuration: ServerConfiguration
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var counters: ServerCounters { prepared.counters }

    /// Starts a server, runs `body`, stops the server.
    @discardableResult
    public static func with<T: Sendable>(
        workDirectory: String, configure: (inout ServerConfiguration) -> Void = { _ in },
        _ body: @Sendable (TestServer) async throws -> T
    ) async throws -> T {
        var configuration = ServerConfiguration(host: "127.0.0.1", port: 0, workDirectory: workDirectory)
        // Test machines may be short of disk; the free-space floor has its own test.
        configuration.minFreeBytes = 1 << 20
        configure(&configuration)
        var logger = Logger(label: "deltasync.test")
        logger.logLevel = .critical
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let prepared = try await DeltaServer.prepare(configuration: configuration, logger: logger) { channel in
            continuation.yield(channel.localAddress?.port ?? 0)
        }
        let frozen = configuration
        return try await Serving.run(prepared.runUntilCancelled, ports: ports) { port in
            try await body(TestServer(port: port, prepared: prepared, configuration: frozen))
        }
    }
}

/// Runs a server in the background for the length of `body`, which gets the port it reported.
enum Serving {
    static func run<T: Sendable>(
        _ serve: @escaping @Sendable () async throws -> Void, ports: AsyncStream<Int>,
        _ body: (Int) async throws -> T
    ) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                try await serve()
                return nil
            }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw DeltaError(.internalError, "server did not start") }
            do {
                let result = try await body(port)
                group.cancelAll()
                return result
            } catch {
                group.cancelAll()
                throw error
            }
        }
    }
}

/// A reply, decoded loosely.
public struct HTTPReply: Sendable {
    public var status: Int
    public var body: [UInt8]
    public var headers: [(String, String)]

    public var json: [String: JSONValue] {
        (try? JSONDecoder().decode([String: JSONValue].self, from: Data(body))) ?? [:]
    }

    /// `error.code` of an error envelope.
    public var errorCode: String? {
        if case .object(let error)? = json["error"] { return error["code"]?.stringValue }
        return nil
    }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T { try JSONDecoder().decode(type, from: Data(body)) }
}

/// Plain HTTP calls with AsyncHTTPClient.
public enum HTTP {
    public static func get(_ url: String, headers: [(String, String)] = []) async throws -> HTTPReply {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return try await send(request)
    }

    public static func post(_ url: String, json: String, headers: [(String, String)] = []) async throws -> HTTPReply {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: json))
        return try await send(request)
    }

    /// `POST /api/v1/delta/upload` with a real multipart body.
    public static func upload(
        _ baseURL: String, bundle: [UInt8], fields: [(String, String)], headers: [(String, String)] = []
    ) async throws -> HTTPReply {
        let boundary = "----deltasync" + UUID().uuidString
        var body: [UInt8] = []
        for (name, value) in fields {
            body += Array("--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n".utf8)
        }
        body += Array(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"bundle.tar.gz\"\r\nContent-Type: application/gzip\r\n\r\n"
                .utf8
        )
        body += bundle
        body += Array("\r\n--\(boundary)--\r\n".utf8)
        var request = HTTPClientRequest(url: baseURL + "/api/v1/delta/upload")
        request.method = .POST
        request.headers.add(name: "content-type", value: "multipart/form-data; boundary=\(boundary)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        return try await send(request)
    }

    public static func send(_ request: HTTPClientRequest, client: HTTPClient = .shared) async throws -> HTTPReply {
        let response = try await client.execute(request, timeout: .seconds(120))
        let body = try await response.body.collect(upTo: 512 << 20)
        return HTTPReply(
            status: Int(response.status.code), body: Array(body.readableBytesView),
            headers: response.headers.map { ($0.name, $0.value) }
        )
    }
}
