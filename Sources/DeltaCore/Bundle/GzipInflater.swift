import CDeltaSys

/// Streaming gzip decompression with zlib, one member only.
///
/// Bytes after the gzip trailer (including a second member) are `TRAILING_DATA`: compress-nio's
/// stream loop spins on them, so we drive zlib directly.
public final class GzipInflater {
    private var stream = z_stream()
    private var finished = false
    private var sawInput = false
    private var output: [UInt8]

    public init(outputChunkSize: Int = 256 * 1024) throws {
        output = [UInt8](repeating: 0, count: outputChunkSize)
        guard cdeltasys_inflate_init(&stream) == Z_OK else {
            throw DeltaError(.internalError, "zlib inflateInit2 failed")
        }
    }

    deinit { inflateEnd(&stream) }

    /// Whether the gzip trailer has been read.
    public var isFinished: Bool { finished }

    /// Feeds compressed bytes; `sink` receives each decompressed chunk as it is produced.
    public func feed(_ input: UnsafeRawBufferPointer, sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        guard input.count > 0 else { return }
        if !sawInput {
            sawInput = true
            if input[0] != 0x1f || (input.count > 1 && input[1] != 0x8b) {
                throw DeltaError(.notGzip, "bundle is not gzip-compressed (expected a .tar.gz)")
            }
        }
        if finished {
            throw DeltaError(.trailingData, "bytes after the end of the gzip stream")
        }
        guard let base = input.baseAddress else { return }
        stream.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.avail_in = uInt(input.count)
        defer {
            stream.next_in = nil
            stream.avail_in = 0
        }
        try output.withUnsafeMutableBytes { out in
            while true {
                stream.next_out = out.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(out.count)
                let status = inflate(&stream, Z_NO_FLUSH)
                let produced = out.count - Int(stream.avail_out)
                if produced > 0 {
                    try sink(UnsafeRawBufferPointer(rebasing: out[0..<produced]))
                }
                switch status {
                case Z_STREAM_END:
                    finished = true
                    if stream.avail_in > 0 {
                        throw DeltaError(.trailingData, "bytes after the end of the gzip stream")
                    }
                    return
                case Z_OK:
                    if stream.avail_in == 0 && stream.avail_out > 0 { return }
                case Z_BUF_ERROR:
                    return
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "code \(status)"
                    throw DeltaError(.invalidGzip, "bundle is not valid gzip: \(reason)")
                }
            }
        }
    }

    /// Call at end of input: a stream that stopped before its trailer is truncated.
    public func finish() throws {
        if !sawInput { throw DeltaError(.notGzip, "bundle is empty") }
        if !finished { throw DeltaError(.invalidGzip, "bundle is truncated (gzip stream has no end)") }
    }
}
