/// One Server-Sent Event.
public struct ServerSentEvent: Sendable, Hashable {
    public var id: String?
    public var event: String
    public var data: String
    /// The `retry:` field, in milliseconds, when the event carried one.
    public var retry: Int?

    public init(id: String? = nil, event: String = "message", data: String = "", retry: Int? = nil) {
        self.id = id
        self.event = event
        self.data = data
        self.retry = retry
    }
}

/// An incremental `text/event-stream` parser (the WHATWG rules: lines end in LF, CR or CRLF;
/// `:` starts a comment; a blank line dispatches; `data` lines join with LF). Feed it bytes as
/// they arrive, in chunks of any size.
public struct ServerSentEventParser: Sendable {
    private var line: [UInt8] = []
    private var lastWasCR = false
    private var id: String?
    private var event = ""
    private var data: [String] = []
    private var retry: Int?
    private var hasFields = false
    /// Comment lines seen (heartbeats are comments).
    public private(set) var comments = 0

    public init() {}

    /// Parses `bytes`; returns the events they complete.
    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) -> [ServerSentEvent] where Bytes.Element == UInt8 {
        var events: [ServerSentEvent] = []
        for byte in bytes {
            if byte == 0x0A && lastWasCR {
                lastWasCR = false
                continue
            }
            lastWasCR = byte == 0x0D
            if byte == 0x0A || byte == 0x0D {
                if let dispatched = endLine() { events.append(dispatched) }
            } else {
                line.append(byte)
            }
        }
        return events
    }

    private mutating func endLine() -> ServerSentEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            guard hasFields else { return nil }
            let dispatched = ServerSentEvent(
                id: id, event: event.isEmpty ? "message" : event, data: data.joined(separator: "\n"), retry: retry)
            event = ""
            data = []
            retry = nil
            hasFields = false
            return dispatched
        }
        if line.first == UInt8(ascii: ":") {
            comments += 1
            return nil
        }
        let colon = line.firstIndex(of: UInt8(ascii: ":")) ?? line.endIndex
        let name = String(decoding: line[..<colon], as: UTF8.self)
        var valueStart = colon < line.endIndex ? colon + 1 : colon
        if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
        let value = String(decoding: line[valueStart...], as: UTF8.self)
        hasFields = true
        switch name {
        case "id": id = value
        case "event": event = value
        case "data": data.append(value)
        case "retry": retry = Int(value)
        default: break
        }
        return nil
    }
}
