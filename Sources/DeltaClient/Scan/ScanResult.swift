/// What one ``TreeScanner`` walk found.
public struct ScanResult: Sendable {
    /// Regular, non-ignored files, sorted by path in UTF-8 byte order.
    public var files: [ScannedFile]
    /// Paths left out for a reason worth reporting, in walk order.
    public var skipped: [SkippedPath]
    /// Directories read, the starting one included; ignored directories are not entered and
    /// not counted.
    public var directoryCount: Int

    public init(files: [ScannedFile] = [], skipped: [SkippedPath] = [], directoryCount: Int = 0) {
        self.files = files
        self.skipped = skipped
        self.directoryCount = directoryCount
    }
}
