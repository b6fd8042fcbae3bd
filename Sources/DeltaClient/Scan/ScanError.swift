#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a scan could not run at all (the root cannot be opened, an invalid subdirectory).
/// Problems with individual paths are never errors: they end up in ``ScanResult/skipped``.
public struct ScanError: Error, Sendable, CustomStringConvertible {
    /// Stable code: `SCAN_ROOT_UNREADABLE`, `INVALID_PATH`, `IO_ERROR`.
    public var code: String
    public var message: String
    /// The `errno` behind the failure, when there was one.
    public var errno: Int32?

    public init(code: String, message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String { "\(code): \(message)" }

    static func posix(_ code: String, _ operation: String, _ path: String, _ number: Int32) -> ScanError {
        ScanError(code: code, message: "\(operation) \(path): \(String(cString: strerror(number)))", errno: number)
    }
}
