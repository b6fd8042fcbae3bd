/// A push parser for tar streams: feed it decompressed bytes in chunks of any size and it
/// reports entries, their data and their end. PAX `path`/`size` records and GNU long names are
/// applied to the entry that follows them.
///
/// The parser never buffers entry data: it hands each slice straight to the caller, so memory
/// stays flat whatever the archive size. Only extended-header records (capped) are buffered.
public struct TarReader {
    /// What the parser reports.
    public enum Event {
        /// A new entry with its resolved name and size (data follows, possibly in many slices).
        case begin(TarEntry)
        case data(UnsafeRawBufferPointer)
        case end
    }

    /// An entry whose extension headers have been applied.
    public struct TarEntry: Sendable, Hashable {
        public var name: [UInt8]
        public var mode: UInt32
        public var size: Int64
        public var kind: TarHeader.Kind
    }

    /// Extension headers longer than this are rejected (they are only names and a few numbers).
    public static let maxExtensionSize: Int64 = 1 << 20

    private enum State {
        case header
        case data(remaining: Int64, padding: Int, extensionKind: TarHeader.Kind?)
        case padding(remaining: Int)
        case finished
    }

    private var state = State.header
    private var headerBuffer = [UInt8]()
    private var extensionBuffer = [UInt8]()
    private var pendingName: [UInt8]?
    private var pendingSize: Int64?
    private var zeroBlocks = 0
    /// Number of headers seen (every entry, extension headers included).
    public private(set) var headerCount = 0

    public init() { headerBuffer.reserveCapacity(TarHeader.blockSize) }

    /// Whether the end-of-archive marker has been read.
    public var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    /// Whether the input so far ends on an entry boundary (a valid place for the stream to stop).
    public var isAtBoundary: Bool {
        switch state {
        case .finished: return true
        case .header: return headerBuffer.isEmpty && pendingName == nil && pendingSize == nil
        default: return false
        }
    }

    /// Consumes `bytes`, calling `handler` for each event.
    public mutating func consume(_ bytes: UnsafeRawBufferPointer, handler: (Event) throws -> Void) throws {
        var offset = 0
        while offset < bytes.count {
            switch state {
            case .finished:
                // Tar pads to a record size with zeros after the end-of-archive marker; anything
                // else there is not part of the archive.
                let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
                if rest.contains(where: { $0 != 0 }) {
                    throw DeltaError(.trailingData, "bytes after the end of the tar archive")
                }
                return
            case .header:
                let take = min(TarHeader.blockSize - headerBuffer.count, bytes.count - offset)
                headerBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
                offset += take
                if headerBuffer.count == TarHeader.blockSize {
                    let block = headerBuffer
                    headerBuffer.removeAll(keepingCapacity: true)
                    try block.withUnsafeBytes { raw in try processHeader(raw, handler: handler) }
                }
            case .data(let remaining, let padding, let extensionKind):
                let take = Int(min(remaining, Int64(bytes.count - offset)))
                let slice = UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)])
                offset += take
                if extensionKind != nil {
                    extensionBuffer.append(contentsOf: slice)
                } else if take > 0 {
                    try handler(.data(slice))
                }
                let left = remaining - Int64(take)
                if left == 0 {
                    if let extensionKind {
                        try applyExtension(extensionKind)
                    } else {
                        try handler(.end)
                    }
                    state = padding > 0 ? .padding(remaining: padding) : .header
                } else {
                    state = .data(remaining: left, padding: padding, extensionKind: extensionKind)
                }
            case .padding(let remaining):
                let take = min(remaining, bytes.count - offset)
                offset += take
                state = remaining - take == 0 ? .header : .padding(remaining: remaining - take)
            }
        }
    }

    private mutating func processHeader(_ block: UnsafeRawBufferPointer, handler: (Event) throws -> Void) throws {
        guard let header = try TarHeader.parse(block) else {
            zeroBlocks += 1
            if zeroBlocks == 2 { state = .finished }
            return
        }
        if zeroBlocks > 0 {
            throw DeltaError(.invalidTar, "bundle is not a valid tar archive (entry after an end-of-archive block)")
        }
        headerCount += 1
        let padding = Int((TarHeader.blockSize - Int(header.size % Int64(TarHeader.blockSize))) % TarHeader.blockSize)
        switch header.kind {
        case .paxExtended, .paxGlobal, .gnuLongName, .gnuLongLink:
            guard header.size <= Self.maxExtensionSize else {
                throw DeltaError(.invalidTar, "tar extension header of \(header.size) bytes is too large")
            }
            extensionBuffer.removeAll(keepingCapacity: true)
            if header.size == 0 {
                try applyExtension(header.kind)
                state = .header
            } else {
                state = .data(remaining: header.size, padding: padding, extensionKind: header.kind)
            }
        default:
            var entry = TarEntry(name: header.name, mode: header.mode, size: header.size, kind: header.kind)
            if let pendingName { entry.name = pendingName }
            if let pendingSize { entry.size = pendingSize }
            pendingName = nil
            pendingSize = nil
            // Links, devices and directories carry no data whatever their size field says.
            if case .regular = entry.kind {} else { entry.size = 0 }
            let entryPadding = Int(
                (TarHeader.blockSize - Int(entry.size % Int64(TarHeader.blockSize))) % TarHeader.blockSize)
            try handler(.begin(entry))
            if entry.size == 0 {
                try handler(.end)
                state = .header
            } else {
                state = .data(remaining: entry.size, padding: entryPadding, extensionKind: nil)
            }
        }
    }

    private mutating func applyExtension(_ kind: TarHeader.Kind) throws {
        switch kind {
        case .gnuLongName:
            var name = extensionBuffer
            while name.last == 0 { name.removeLast() }
            pendingName = name
        case .paxExtended:
            try parsePax(extensionBuffer)
        default:
            break  // global PAX headers and GNU long link names change nothing we keep
        }
        extensionBuffer.removeAll(keepingCapacity: true)
    }

    /// PAX records: `"<length> <key>=<value>\n"`.
    private mutating func parsePax(_ bytes: [UInt8]) throws {
        var index = 0
        while index < bytes.count {
            // `length` comes from the archive: compare it with what is left before adding it to
            // `index`, so no value can overflow.
            guard let space = bytes[index...].prefix(20).firstIndex(of: UInt8(ascii: " ")),
                let length = Int(String(decoding: bytes[index..<space], as: UTF8.self)),
                length > space - index + 1, length <= bytes.count - index,
                bytes[index + length - 1] == UInt8(ascii: "\n")
            else {
                throw DeltaError(.invalidTar, "bundle has a malformed PAX extended header")
            }
            let record = bytes[(space + 1)..<(index + length - 1)]
            if let equals = record.firstIndex(of: UInt8(ascii: "=")) {
                let key = String(decoding: record[record.startIndex..<equals], as: UTF8.self)
                let value = Array(record[(equals + 1)...])
                switch key {
                case "path":
                    pendingName = value
                case "size":
                    guard let size = Int64(String(decoding: value, as: UTF8.self)), size >= 0 else {
                        throw DeltaError(.invalidTar, "bundle has an invalid PAX size record")
                    }
                    pendingSize = size
                default:
                    break
                }
            }
            index += length
        }
    }
}
