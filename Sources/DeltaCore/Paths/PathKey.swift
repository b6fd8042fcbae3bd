/// A workspace-relative path that is compared, hashed and ordered by its UTF-8 bytes.
///
/// Swift's `String` equality is canonical: `"é"` (U+00E9) and `"e\u{301}"` are equal strings, and
/// `"/\u{301}"` is a single `Character`. SQLite and ext4 compare bytes, so two files that Swift
/// would merge are distinct on disk and in the database. Every dictionary or set that mirrors the
/// filesystem or the file table is keyed by `PathKey`, so the planner, the caches and the disk
/// can never disagree about which path is which.
public struct PathKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let string: String

    public init(_ string: String) { self.string = string }

    public var description: String { string }

    public static func == (lhs: PathKey, rhs: PathKey) -> Bool {
        lhs.string.utf8.count == rhs.string.utf8.count && lhs.string.utf8.elementsEqual(rhs.string.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        let hashed: Void? = string.utf8.withContiguousStorageIfAvailable { bytes in
            hasher.combine(bytes: UnsafeRawBufferPointer(bytes))
        }
        if hashed == nil {
            for byte in string.utf8 { hasher.combine(byte) }
        }
        hasher.combine(string.utf8.count)
    }

    /// Byte order, the order SQLite's `BINARY` collation and `ORDER BY path` use.
    public static func < (lhs: PathKey, rhs: PathKey) -> Bool {
        lhs.string.utf8.lexicographicallyPrecedes(rhs.string.utf8)
    }
}

extension String {
    /// Whether two strings hold the same UTF-8 bytes (not merely canonically equivalent text).
    @inlinable
    public func bytesEqual(_ other: String) -> Bool {
        utf8.count == other.utf8.count && utf8.elementsEqual(other.utf8)
    }
}
