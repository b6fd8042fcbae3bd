import ArgumentParser
import AsyncHTTPClient
import DeltaCore
import Foundation
import NIOCore
import NIOHTTP1

/// Applying bundles of 1, 100 and 10,000 small files and one 50 MB file on a real server.
struct ApplyBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "apply", abstract: "Upload-and-apply throughput of the server (files/s, MB/s, RSS)."
    )

    @Option(help: "Repetitions per bundle shape") var repeats = 5
    @Option(help: "Size of each small file in bytes") var smallFileBytes = 2048
    @Option(help: "Size of the big file in MB") var bigFileMB = 50

    func run() async throws {
        let scratch = NSTemporaryDirectory() + "deltasync-bench-" + UUID().uuidString.prefix(8)
        try FileSystem.createDirectory(scratch)
        defer { FileSystem.removeTree(scratch) }
        let server = try ServerUnderTest(workDirectory: scratch + "/server")
        defer { server.stop() }
        print("server \(server.baseURL), work dir \(scratch)/server")
        print("shape                 files   bundle MB   median ms      files/s       MB/s")
        var sequence: Int64 = 0
        for (label, count, size) in [
            ("1 small file", 1, smallFileBytes), ("100 small files", 100, smallFileBytes),
            ("10000 small files", 10_000, smallFileBytes), ("1 file of \(bigFileMB) MB", 1, bigFileMB << 20),
        ] {
            var timings: [Double] = []
            var compressed: Int64 = 0
            for round in 0..<repeats {
                let path = scratch + "/bundle.tar.gz"
                compressed = try Self.makeBundle(at: path, files: count, size: size, salt: "\(label)-\(round)")
                let started = ContinuousClock.now
                let status = try await Self.upload(path, to: server.baseURL)
                let elapsed = started.duration(to: .now)
                guard status == 200 else { throw BenchError("upload answered \(status)") }
                sequence += 1
                timings.append(
                    Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)
            }
            let median = timings.sorted()[timings.count / 2]
            let megabytes = Double(count * size) / 1_048_576
            print(
                label.padding(toLength: 20, withPad: " ", startingAt: 0)
                    + String(
                        format: "%7d %11.2f %11.1f %12.0f %10.1f", count, Double(compressed) / 1_048_576, median,
                        Double(count) / (median / 1000), megabytes / (median / 1000))
            )
        }
        let memory = server.memory()
        print(
            String(format: "server RSS %.1f MiB (peak %.1f MiB) after %lld bundles", memory.rss, memory.peak, sequence))
    }

    /// A bundle of `files` files of `size` bytes of text-like content, unique per `salt`.
    static func makeBundle(at path: String, files: Int, size: Int, salt: String) throws -> Int64 {
        var entries: [BundleWriter.Entry] = []
        entries.reserveCapacity(files)
        let line = Array("let value = \"\(salt)\" // some code-like text for the compressor\n".utf8)
        for index in 0..<files {
            var bytes = [UInt8]()
            bytes.reserveCapacity(size)
            let header = Array("// file \(index) \(salt)\n".utf8)
            bytes += header
            while bytes.count < size { bytes += line.prefix(size - bytes.count) }
            var hasher = SHA256Hasher()
            bytes.withUnsafeBytes { hasher.update($0) }
            let path = "src/dir\(index % 100)/file\(index).swift"
            entries.append(
                .init(
                    operation: BundleOperation(
                        operation: .created, path: path,
                        contentHash: ContentHash(algorithm: .sha256, hex: hasher.finalize()),
                        sizeBytes: Int64(size)
                    ),
                    content: .bytes(bytes)
                ))
        }
        return try BundleWriter().write(
            to: path, bundleID: UUID().uuidString.lowercased(), workspacePath: "/bench/workspace", sequenceNumber: nil,
            entries: entries
        )
    }

    static func upload(_ path: String, to baseURL: String) async throws -> Int {
        let bundle = try FileSystem.readAll(path)
        let boundary = "bench-\(UUID().uuidString)"
        var body = ByteBuffer()
        body.writeString(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"workspace_path\"\r\n\r\n/bench/workspace\r\n")
        body.writeString(
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"bundle\"; filename=\"b.tar.gz\"\r\n\r\n")
        body.writeBytes(bundle)
        body.writeString("\r\n--\(boundary)--\r\n")
        var request = HTTPClientRequest(url: baseURL + "/api/v1/delta/upload")
        request.method = .POST
        request.headers.add(name: "content-type", value: "multipart/form-data; boundary=\(boundary)")
        request.body = .bytes(body)
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(600))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }
}
