/// `200` reply of `POST /api/v1/delta/upload`.
public struct UploadResponse: Sendable, Hashable, Codable {
    public var success: Bool
    public var bundleID: String
    public var workspace: String
    public var sequenceNumber: Int64
    public var nextSequence: Int64
    public var processedOperations: OperationCounts
    public var processingTimeMs: Double
    public var duplicate: Bool

    public init(
        bundleID: String, workspace: String, sequenceNumber: Int64, nextSequence: Int64,
        processedOperations: OperationCounts, processingTimeMs: Double, duplicate: Bool
    ) {
        self.success = true
        self.bundleID = bundleID
        self.workspace = workspace
        self.sequenceNumber = sequenceNumber
        self.nextSequence = nextSequence
        self.processedOperations = processedOperations
        self.processingTimeMs = processingTimeMs
        self.duplicate = duplicate
    }

    /// Required: `success`, and `sequence_number` or `next_sequence` (the compatible core sends
    /// `null` for the counts and the time, and no `workspace` or `duplicate`).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func optional<T: Decodable>(_ type: T.Type, _ key: CodingKeys) -> T? {
            (try? container.decodeIfPresent(type, forKey: key)) ?? nil
        }
        success = try container.decode(Bool.self, forKey: .success)
        let sequence = optional(Int64.self, .sequenceNumber)
        let next = optional(Int64.self, .nextSequence)
        guard let resolved = sequence ?? next.map({ $0 - 1 }), resolved > 0 else {
            throw DecodingError.keyNotFound(
                CodingKeys.sequenceNumber,
                .init(codingPath: [], debugDescription: "neither sequence_number nor next_sequence"))
        }
        sequenceNumber = resolved
        nextSequence = next ?? resolved + 1
        bundleID = optional(String.self, .bundleID) ?? ""
        workspace = optional(String.self, .workspace) ?? ""
        processedOperations = optional(OperationCounts.self, .processedOperations) ?? OperationCounts()
        processingTimeMs = optional(Double.self, .processingTimeMs) ?? 0
        duplicate = optional(Bool.self, .duplicate) ?? false
    }

    enum CodingKeys: String, CodingKey {
        case success
        case bundleID = "bundle_id"
        case workspace
        case sequenceNumber = "sequence_number"
        case nextSequence = "next_sequence"
        case processedOperations = "processed_operations"
        case processingTimeMs = "processing_time_ms"
        case duplicate
    }
}

/// `{"success": false, "error": {...}}` — every error reply.
public struct ErrorEnvelope: Sendable, Codable {
    public struct Body: Sendable, Codable {
        public var code: String
        public var message: String
        public var details: [String: JSONValue]

        public init(code: String, message: String, details: [String: JSONValue]) {
            self.code = code
            self.message = message
            self.details = details
        }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            code = try container.decode(String.self, forKey: Key(stringValue: "code"))
            message = (try? container.decode(String.self, forKey: Key(stringValue: "message"))) ?? ""
            var details: [String: JSONValue] = [:]
            for key in container.allKeys where key.stringValue != "code" && key.stringValue != "message" {
                details[key.stringValue] = try container.decode(JSONValue.self, forKey: key)
            }
            self.details = details
        }

        /// Details are flattened next to `code` and `message` (`error.expected_sequence`).
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(code, forKey: Key(stringValue: "code"))
            try container.encode(message, forKey: Key(stringValue: "message"))
            for (key, value) in details.sorted(by: { $0.key < $1.key }) {
                try container.encode(value, forKey: Key(stringValue: key))
            }
        }
    }

    public var success: Bool
    public var error: Body

    enum CodingKeys: String, CodingKey {
        case success
        case error
    }

    /// An error reply is any body with `error.code`; `success` defaults to false.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        error = try container.decode(Body.self, forKey: .error)
        success = ((try? container.decodeIfPresent(Bool.self, forKey: .success)) ?? nil) ?? false
    }

    public init(_ error: DeltaError) {
        self.success = false
        var details = error.details
        if let retryAfter = error.retryAfter { details["retry_after"] = .int(retryAfter) }
        self.error = Body(code: error.code.rawValue, message: error.message, details: details)
    }

    /// The error it carries; `retry_after` becomes the typed field (a `Retry-After` header, when
    /// the reply had one, takes precedence at the caller).
    public var deltaError: DeltaError {
        var details = error.details
        let retryAfter = details.removeValue(forKey: "retry_after")?.intValue
        return DeltaError(
            DeltaError.Code(rawValue: error.code), error.message, details: details, retryAfter: retryAfter)
    }
}
