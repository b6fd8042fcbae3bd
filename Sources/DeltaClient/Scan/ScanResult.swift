public import DeltaCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// What one ``TreeScanner`` walk found.
public struct ScanResult: Sendable {
    /// Regular, non-ignored files, sorted by path in UTF-8 byte order.
    public var files: [ScannedFile]
    /// Paths left out for a reason worth reporting, in walk order.
    public var skipped: [SkippedPath]
    /// Directories read, the starting one included; ignored directories are not entered and
    /// not counted.
    public var directoryCount: Int
    /// Every directory read, with its stat taken before its listing (in no particular order).
    public var directories: [ScannedDirectory] = []
    /// Something could not be read, or changed under the walk (a directory or file vanished
    /// between its listing and its `stat`): the result is not a picture of one moment.
    public var isIncomplete = false

    public init(files: [ScannedFile] = [], skipped: [SkippedPath] = [], directoryCount: Int = 0) {
        self.files = files
        self.skipped = skipped
        self.directoryCount = directoryCount
    }
}

/// A directory the walk read: its stat before the listing, and the stat of the rule files in it.
public struct ScannedDirectory: Sendable, Hashable {
    /// Workspace-relative; `""` for the root.
    public var path: String
    public var fingerprint: StatFingerprint
    /// `.gitignore` and `.deltasyncignore` when present (not followed if symlinks).
    public var ruleFiles: [RuleFileFingerprint]

    public struct RuleFileFingerprint: Sendable, Hashable {
        public var name: String
        public var fingerprint: StatFingerprint
    }
}

extension StatFingerprint {
    /// The fingerprint of a regular file the scan listed.
    init(_ file: ScannedFile) {
        self.init(
            size: file.size, mtimeNanoseconds: file.mtimeNanoseconds, ctimeNanoseconds: file.ctimeNanoseconds,
            inode: file.inode, mode: UInt32(S_IFREG) | file.mode)
    }
}
