/// An algorithm-prefixed content hash: `sha1:<40 hex>` (existing clients) or `sha256:<64 hex>` (ours).
public struct ContentHash: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Algorithm: String, Sendable, Hashable, Codable {
        case sha1
        case sha256

        var hexLength: Int { self == .sha1 ? 40 : 64 }
    }

    public let algorithm: Algorithm
    /// Lower-case hexadecimal digest.
    public let hex: String

    public init(algorithm: Algorithm, hex: String) {
        self.algorithm = algorithm
        self.hex = hex
    }

    /// Parses `sha1:…` or `sha256:…`; throws `INVALID_HASH` for anything else.
    public init(parsing text: String) throws {
        // The usual form, `sha256:` and lower-case hex, without building new strings.
        let utf8 = text.utf8
        if utf8.count == 71, utf8.starts(with: "sha256:".utf8),
            utf8.dropFirst(7).allSatisfy(\.isLowerHexDigit)
        {
            self.algorithm = .sha256
            self.hex = String(text.dropFirst(7))
            return
        }
        guard let colon = text.firstIndex(of: ":"),
            let algorithm = Algorithm(rawValue: String(text[..<colon]).lowercased())
        else {
            throw DeltaError(.invalidHash, "hash '\(text.prefix(80))' must be 'sha1:<hex>' or 'sha256:<hex>'")
        }
        let hex = String(text[text.index(after: colon)...]).lowercased()
        guard hex.utf8.count == algorithm.hexLength, hex.utf8.allSatisfy(\.isHexDigit) else {
            throw DeltaError(.invalidHash, "hash '\(text.prefix(80))' is not a valid \(algorithm.rawValue) digest")
        }
        self.algorithm = algorithm
        self.hex = hex
    }

    public var description: String { "\(algorithm.rawValue):\(hex)" }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do {
            try self.init(parsing: text)
        } catch let error as DeltaError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.message))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

extension UInt8 {
    var isLowerHexDigit: Bool { (0x30...0x39).contains(self) || (0x61...0x66).contains(self) }

    var isHexDigit: Bool {
        (0x30...0x39).contains(self) || (0x61...0x66).contains(self) || (0x41...0x46).contains(self)
    }
}
