#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

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
        lhs.string.utf8.count == rhs.string.utf8.count && compare(lhs.string, rhs.string) == 0
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
        compare(lhs.string, rhs.string) < 0
    }

    /// The byte order of two strings' UTF-8 (negative, zero or positive, as `memcmp`), by
    /// `memcmp` over their contiguous bytes: the generic element-by-element comparison was a
    /// fifth of the server's planning time under a workspace's lock.
    static func compare(_ lhs: String, _ rhs: String) -> Int {
        let compared = lhs.utf8.withContiguousStorageIfAvailable { left in
            rhs.utf8.withContiguousStorageIfAvailable { right in
                let common = min(left.count, right.count)
                var order: Int32 = 0
                if common > 0, let a = left.baseAddress, let b = right.baseAddress { order = memcmp(a, b, common) }
                return order != 0 ? Int(order) : left.count - right.count
            }
        }
        if let compared, let compared { return compared }
        if lhs.utf8.elementsEqual(rhs.utf8) { return 0 }
        return lhs.utf8.lexicographicallyPrecedes(rhs.utf8) ? -1 : 1
    }
}

extension String {
    /// Whether two strings hold the same UTF-8 bytes (not merely canonically equivalent text).
    @inlinable
    public func bytesEqual(_ other: String) -> Bool {
        utf8.count == other.utf8.count && utf8.elementsEqual(other.utf8)
    }
}
