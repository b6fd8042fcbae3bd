import DeltaCore
import Foundation

/// The body of `POST /api/v1/delta/blobs`: a plain (uncompressed) tar stream with one regular
/// file per requested blob, named by its SHA-256 hex, in request order. Produced in chunks of
/// about `chunkSize` bytes, each read on the blocking pool in one call — many small files go
/// out in one chunk, a large one over several — so a bootstrap of 100,000 files costs a few
/// hundred thread hops, not 100,000.
///
/// A blob that cannot be opened when its turn comes (it was collected meanwhile) is left out;
/// the size in each header is the opened file's, so the stream is always well formed.
final class BlobArchive: @unchecked Sendable {
    static let chunkSize = 1 << 20

    private let paths: [(hex: String, path: String)]
    private var next = 0
    /// The large blob being sent across chunks, and how much of it is left.
    private var current: (file: RawFile, remaining: Int64, size: Int64)?
    private var finished = false
    private var buffer: [UInt8] = []

    init(_ paths: [(hex: String, path: String)]) {
        self.paths = paths
        buffer.reserveCapacity(Self.chunkSize + 2 * TarHeader.blockSize)
    }

    /// The next chunk of the stream, or nil after the end-of-archive blocks went out.
    /// One caller at a time (the route's writer loop).
    func nextChunk() throws -> [UInt8]? {
        guard !finished else { return nil }
        buffer.removeAll(keepingCapacity: true)
        let writer = TarWriter { [unowned self] bytes in self.buffer.append(contentsOf: bytes) }
        while buffer.count < Self.chunkSize {
            if let (file, remaining, size) = current {
                let take = Int(min(remaining, Int64(Self.chunkSize - buffer.count)))
                let start = buffer.count
                buffer.append(contentsOf: repeatElement(0, count: take))
                let read = try buffer.withUnsafeMutableBytes { raw in
                    try Self.readFully(file, into: UnsafeMutableRawBufferPointer(rebasing: raw[start..<(start + take)]))
                }
                guard read == take else {
                    // The blob shrank under us (never expected: blobs are immutable); a short
                    // stream would corrupt every later entry, so stop here with an error.
                    throw DeltaError(.io, "a stored blob changed size while it was being sent")
                }
                if remaining - Int64(take) == 0 {
                    try writer.finishEntry(size: size)
                    current = nil
                } else {
                    current = (file, remaining - Int64(take), size)
                }
                continue
            }
            guard next < paths.count else {
                try writer.finish()
                finished = true
                break
            }
            let (hex, path) = paths[next]
            next += 1
            guard let file = try? RawFile.open(reading: path), let size = try? file.size() else { continue }
            try writer.beginFile(name: hex, size: size)
            if size == 0 {
                try writer.finishEntry(size: 0)
            } else {
                current = (file, size, size)
            }
        }
        return buffer
    }

    /// Reads until `buffer` is full or the file ends; returns how many bytes were read.
    static func readFully(_ file: RawFile, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < buffer.count {
            let count = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            if count == 0 { break }
            done += count
        }
        return done
    }
}
