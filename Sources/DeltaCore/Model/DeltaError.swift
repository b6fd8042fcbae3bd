/// The one error type of DeltaSync's libraries: a stable machine-readable code, a message for
/// people, optional details that travel in the error envelope, and an optional underlying cause.
///
/// The server maps `code` to an HTTP status in one place (`DeltaError.Code.httpStatus`), so every
/// rejection of bad input has the same shape on the wire:
/// `{"success": false, "error": {"code": "...", "message": "...", ...details}}`.
public struct DeltaError: Error, Sendable, CustomStringConvertible {
    /// A stable, upper-snake-case error code (`SEQUENCE_MISMATCH`, `HASH_MISMATCH`, …).
    public struct Code: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }
    }

    public var code: Code
    public var message: String
    /// Extra fields for the error envelope (for example `expected_sequence`).
    public var details: [String: JSONValue]
    public var cause: (any Error)?
    /// The HTTP status the error arrived with (client side) — `nil` for local errors.
    public var httpStatus: Int?
    /// Seconds to wait before trying again: the `Retry-After` header on the wire, both ways.
    public var retryAfter: Int64?

    public init(
        _ code: Code, _ message: String, details: [String: JSONValue] = [:], cause: (any Error)? = nil,
        httpStatus: Int? = nil, retryAfter: Int64? = nil
    ) {
        self.code = code
        self.message = message
        self.details = details
        self.cause = cause
        self.httpStatus = httpStatus
        self.retryAfter = retryAfter
    }

    public var description: String {
        if let cause { return "\(code): \(message) (\(cause))" }
        return "\(code): \(message)"
    }
}

extension DeltaError.Code {
    // Bundle container
    public static let notGzip = Self(rawValue: "NOT_GZIP")
    public static let invalidGzip = Self(rawValue: "INVALID_GZIP")
    public static let trailingData = Self(rawValue: "TRAILING_DATA")
    public static let invalidTar = Self(rawValue: "INVALID_TAR")
    public static let unsupportedEntry = Self(rawValue: "UNSUPPORTED_ENTRY")
    public static let duplicateEntry = Self(rawValue: "DUPLICATE_ENTRY")
    // Limits
    public static let bundleTooLarge = Self(rawValue: "BUNDLE_TOO_LARGE")
    public static let uncompressedTooLarge = Self(rawValue: "UNCOMPRESSED_TOO_LARGE")
    public static let fileTooLarge = Self(rawValue: "FILE_TOO_LARGE")
    public static let tooManyEntries = Self(rawValue: "TOO_MANY_ENTRIES")
    // Manifest and operations
    public static let missingManifest = Self(rawValue: "MISSING_MANIFEST")
    public static let invalidManifest = Self(rawValue: "INVALID_MANIFEST")
    public static let unsupportedVersion = Self(rawValue: "UNSUPPORTED_VERSION")
    public static let invalidOperation = Self(rawValue: "INVALID_OPERATION")
    public static let invalidPath = Self(rawValue: "INVALID_PATH")
    public static let invalidHash = Self(rawValue: "INVALID_HASH")
    public static let hashMismatch = Self(rawValue: "HASH_MISMATCH")
    public static let contentMissing = Self(rawValue: "CONTENT_MISSING")
    public static let pathConflict = Self(rawValue: "PATH_CONFLICT")
    // Protocol
    public static let invalidRequest = Self(rawValue: "INVALID_REQUEST")
    public static let invalidWorkspace = Self(rawValue: "INVALID_WORKSPACE")
    public static let unsupportedMediaType = Self(rawValue: "UNSUPPORTED_MEDIA_TYPE")
    public static let sequenceMismatch = Self(rawValue: "SEQUENCE_MISMATCH")
    public static let bundleIDConflict = Self(rawValue: "BUNDLE_ID_CONFLICT")
    public static let historyCompacted = Self(rawValue: "HISTORY_COMPACTED")
    public static let notFound = Self(rawValue: "NOT_FOUND")
    /// The code graph knows no such path in the workspace.
    public static let pathNotFound = Self(rawValue: "PATH_NOT_FOUND")
    public static let methodNotAllowed = Self(rawValue: "METHOD_NOT_ALLOWED")
    public static let unauthorized = Self(rawValue: "UNAUTHORIZED")
    public static let forbidden = Self(rawValue: "FORBIDDEN")
    public static let requestTimeout = Self(rawValue: "REQUEST_TIMEOUT")
    public static let rateLimited = Self(rawValue: "RATE_LIMITED")
    public static let notReady = Self(rawValue: "NOT_READY")
    /// Too many uploads in flight; retry after `Retry-After` seconds.
    public static let serverBusy = Self(rawValue: "SERVER_BUSY")
    /// Accepting the upload would bring `WORK_DIR` under its free-space floor.
    public static let insufficientStorage = Self(rawValue: "INSUFFICIENT_STORAGE")
    /// The workspace's materialised copy could not be repaired; it is read-only until it is.
    public static let workspaceDegraded = Self(rawValue: "WORKSPACE_DEGRADED")
    public static let internalError = Self(rawValue: "INTERNAL_ERROR")
    // Local (client / CLI)
    public static let io = Self(rawValue: "IO_ERROR")
    public static let network = Self(rawValue: "NETWORK_ERROR")
    public static let configuration = Self(rawValue: "CONFIGURATION_ERROR")
    /// A file changed between hashing and bundling: scan again rather than send torn content.
    public static let changedWhileBundling = Self(rawValue: "CHANGED_WHILE_BUNDLING")
    /// Another `deltasync push` or `watch` holds the workspace's client state.
    public static let stateLocked = Self(rawValue: "STATE_LOCKED")
}
