/// A path the scanner did not return and that the user should hear about: a symlink, a name the
/// bundle format cannot carry, an unreadable directory. Ignored paths are never reported.
public struct SkippedPath: Sendable, Hashable {
    /// Workspace-relative path; bytes that are not UTF-8 are shown as U+FFFD.
    public var path: String
    /// Why it was skipped, for example `symlink` or `permission denied`.
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    /// Stable reasons the scanner reports.
    public static let symlinkReason = "symlink"
    public static let permissionDeniedReason = "permission denied"
    public static let specialFileReason = "not a regular file"
    /// How the reason for a file over the server's per-file limit begins.
    public static let tooLargePrefix = "larger than the server's per-file limit"
}
