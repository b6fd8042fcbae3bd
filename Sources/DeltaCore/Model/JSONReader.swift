/// A pull parser for the JSON documents inside a bundle (`manifest.json`, `metadata/*.json`).
///
/// Bundles come from the network, so decoding must be linear in the input and bounded in depth:
/// Foundation's `JSONDecoder` with `JSONValue`'s try-each-type decoding is roughly cubic in the
/// nesting depth, and a 300-byte bundle could hold the cooperative pool for seconds. This reader
/// touches every byte once, refuses nesting deeper than `maxDepth`, and lets the caller walk
/// objects and arrays one member at a time (so a huge `operations` array can be counted and
/// refused before it is all in memory).
public struct JSONReader {
    /// The nesting limit for bundle metadata (objects and arrays together).
    public static let defaultMaxDepth = 32
    /// Longest number literal accepted (digits, sign, exponent).
    static let maxNumberLength = 64

    private let bytes: [UInt8]
    private var index = 0
    private var depth = 0
    private let maxDepth: Int
    /// Names the document in error messages (`manifest.json`).
    private let documentName: String
    private let errorCode: DeltaError.Code

    public init(
        _ bytes: [UInt8], documentName: String, errorCode: DeltaError.Code, maxDepth: Int = Self.defaultMaxDepth
    ) {
        self.bytes = bytes
        self.documentName = documentName
        self.errorCode = errorCode
        self.maxDepth = maxDepth
    }

    // MARK: - Whole values

    /// Parses one complete document (a single value and nothing but white space after it).
    public static func parse(
        _ bytes: [UInt8], documentName: String, errorCode: DeltaError.Code, maxDepth: Int = Self.defaultMaxDepth
    ) throws -> JSONValue {
        var reader = JSONReader(bytes, documentName: documentName, errorCode: errorCode, maxDepth: maxDepth)
        let value = try reader.readValue()
        try reader.finish()
        return value
    }

    /// Reads the next value, of any type.
    public mutating func readValue() throws -> JSONValue {
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end of document") }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            var object: [String: JSONValue] = [:]
            try readObject { reader, key in object[key] = try reader.readValue() }
            return .object(object)
        case UInt8(ascii: "["):
            var array: [JSONValue] = []
            try readArray { reader in array.append(try reader.readValue()) }
            return .array(array)
        case UInt8(ascii: "\""):
            return .string(try readString())
        case UInt8(ascii: "t"):
            try expectLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try expectLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try expectLiteral("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return try readNumber()
        default:
            throw failure("unexpected character")
        }
    }

    /// Requires that only white space remains.
    public mutating func finish() throws {
        skipWhitespace()
        guard index == bytes.count else { throw failure("unexpected data after the document") }
    }

    // MARK: - Containers, one member at a time

    /// Walks an object: `body` is called with each key and must consume exactly one value
    /// (`readValue`, `readObject`, `readArray` or `skipValue`).
    public mutating func readObject(_ body: (inout JSONReader, String) throws -> Void) throws {
        try enter(UInt8(ascii: "{"))
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return
        }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw failure("expected an object key") }
            let key = try readString()
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw failure("expected ':' after an object key") }
            index += 1
            try body(&self, key)
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","):
                index += 1
            case UInt8(ascii: "}"):
                index += 1
                depth -= 1
                return
            default:
                throw failure("expected ',' or '}' in an object")
            }
        }
    }

    /// Walks an array: `body` is called once per element and must consume exactly one value.
    public mutating func readArray(_ body: (inout JSONReader) throws -> Void) throws {
        try enter(UInt8(ascii: "["))
        skipWhitespace()
        if peek() == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return
        }
        while true {
            try body(&self)
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","):
                index += 1
            case UInt8(ascii: "]"):
                index += 1
                depth -= 1
                return
            default:
                throw failure("expected ',' or ']' in an array")
            }
        }
    }

    /// Consumes one value without building it (still checked, still depth-limited).
    public mutating func skipValue() throws {
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: "{"): try readObject { reader, _ in try reader.skipValue() }
        case UInt8(ascii: "["): try readArray { reader in try reader.skipValue() }
        default: _ = try readValue()
        }
    }

    /// Whether the next value is an object (nothing consumed but white space).
    public var nextIsObject: Bool {
        mutating get {
            skipWhitespace()
            return peek() == UInt8(ascii: "{")
        }
    }

    /// Whether the next value is `null` (consumed if so).
    public mutating func readNullIfPresent() throws -> Bool {
        skipWhitespace()
        guard peek() == UInt8(ascii: "n") else { return false }
        try expectLiteral("null")
        return true
    }

    // MARK: - Scalars

    private mutating func enter(_ opener: UInt8) throws {
        skipWhitespace()
        guard peek() == opener else {
            throw failure(opener == UInt8(ascii: "{") ? "expected an object" : "expected an array")
        }
        guard depth < maxDepth else { throw failure("nesting deeper than \(maxDepth) levels") }
        depth += 1
        index += 1
    }

    private mutating func readString() throws -> String {
        index += 1  // opening quote
        let start = index
        var hasEscape = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw failure("control character inside a string") }
            if byte == UInt8(ascii: "\\") {
                hasEscape = true
                index += 2
            } else {
                index += 1
            }
        }
        guard index < bytes.count else { throw failure("unterminated string") }
        let end = index
        index += 1  // closing quote
        if !hasEscape {
            guard let text = String(validating: bytes[start..<end], as: UTF8.self) else {
                throw failure("string is not valid UTF-8")
            }
            return text
        }
        return try unescape(start..<end)
    }

    private func unescape(_ range: Range<Int>) throws -> String {
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var position = range.lowerBound
        while position < range.upperBound {
            let byte = bytes[position]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                position += 1
                continue
            }
            guard position + 1 < range.upperBound else { throw failure("bad escape in a string") }
            let escaped = bytes[position + 1]
            position += 2
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(escaped)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var value = try hex4(at: position, end: range.upperBound)
                position += 4
                if (0xD800...0xDBFF).contains(value) {
                    guard position + 6 <= range.upperBound, bytes[position] == UInt8(ascii: "\\"),
                        bytes[position + 1] == UInt8(ascii: "u")
                    else { throw failure("unpaired surrogate in a string") }
                    let low = try hex4(at: position + 2, end: range.upperBound)
                    guard (0xDC00...0xDFFF).contains(low) else { throw failure("unpaired surrogate in a string") }
                    value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
                    position += 6
                } else if (0xDC00...0xDFFF).contains(value) {
                    throw failure("unpaired surrogate in a string")
                }
                guard let scalar = Unicode.Scalar(value) else { throw failure("invalid \\u escape") }
                UTF8.encode(scalar) { out.append($0) }
            default:
                throw failure("bad escape in a string")
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw failure("string is not valid UTF-8") }
        return text
    }

    private func hex4(at position: Int, end: Int) throws -> UInt32 {
        guard position + 4 <= end else { throw failure("short \\u escape") }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[position + offset]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw failure("bad \\u escape")
            }
            value = value << 4 | digit
        }
        return value
    }

    private mutating func readNumber() throws -> JSONValue {
        let start = index
        var isInteger = true
        while index < bytes.count, Self.isNumberByte(bytes[index]) {
            let byte = bytes[index]
            if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") { isInteger = false }
            index += 1
            if index - start > Self.maxNumberLength { throw failure("number literal too long") }
        }
        let text = String(decoding: bytes[start..<index], as: UTF8.self)
        guard Self.isValidNumber(text.utf8) else { throw failure("malformed number") }
        if isInteger, let value = Int64(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else { throw failure("number out of range") }
        // Whole numbers written with a fraction or exponent (`1.5e3`) read as integers, as
        // `JSONValue`'s `Decodable` conformance reads them.
        if let whole = Int64(exactly: value) { return .int(whole) }
        return .double(value)
    }

    private static func isNumberByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
            UInt8(ascii: "e"), UInt8(ascii: "E"):
            return true
        default:
            return false
        }
    }

    /// The JSON number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private static func isValidNumber(_ text: String.UTF8View) -> Bool {
        var bytes = text[...]
        func digits() -> Int {
            let count = bytes.prefix { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }.count
            bytes = bytes.dropFirst(count)
            return count
        }
        if bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
        if bytes.first == UInt8(ascii: "0") {
            bytes = bytes.dropFirst()
        } else if digits() == 0 {
            return false
        }
        if bytes.first == UInt8(ascii: ".") {
            bytes = bytes.dropFirst()
            if digits() == 0 { return false }
        }
        if bytes.first == UInt8(ascii: "e") || bytes.first == UInt8(ascii: "E") {
            bytes = bytes.dropFirst()
            if bytes.first == UInt8(ascii: "+") || bytes.first == UInt8(ascii: "-") { bytes = bytes.dropFirst() }
            if digits() == 0 { return false }
        }
        return bytes.isEmpty
    }

    private mutating func expectLiteral(_ literal: StaticString) throws {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw failure("unexpected end of document") }
        let matches = literal.withUTF8Buffer { expected in
            bytes[index..<(index + count)].elementsEqual(expected)
        }
        guard matches else { throw failure("unexpected character") }
        index += count
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    /// A parse error naming the document and the byte offset.
    public func failure(_ reason: String) -> DeltaError {
        DeltaError(errorCode, "\(documentName) is not valid JSON: \(reason) at byte \(index)")
    }
}
