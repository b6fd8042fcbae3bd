/// A set of node ids as the graph keeps it: a sorted array, and a lone id without an array at
/// all. The graph holds one per watched change key and one per imported file — about 70,000 in a
/// kernel tree, most of them small — and a `Set<Int32>` cost about 100 bytes each before its
/// first element (with its hash table at most three quarters full after that).
struct IDSet: Sendable, Equatable {
    private enum Storage: Sendable, Equatable {
        case one(Int32)
        /// Sorted, unique; empty only once the last id is removed.
        case many([Int32])
    }

    private var storage: Storage

    init(_ id: Int32) { storage = .one(id) }

    var isEmpty: Bool {
        if case .many(let ids) = storage { return ids.isEmpty }
        return false
    }

    /// The ids in ascending order.
    var ids: [Int32] {
        switch storage {
        case .one(let id): [id]
        case .many(let ids): ids
        }
    }

    mutating func insert(_ id: Int32) {
        switch storage {
        case .one(let only):
            guard only != id else { return }
            storage = .many(only < id ? [only, id] : [id, only])
        case .many(var ids):
            // Ids mostly come in ascending order (a build resolves files by id): append then.
            if let last = ids.last, last >= id {
                let position = Self.position(of: id, in: ids)
                guard ids[position] != id else { return }
                storage = .many([])  // the array is uniquely referenced while it changes
                ids.insert(id, at: position)
            } else {
                storage = .many([])
                ids.append(id)
            }
            storage = ids.count == 1 ? .one(ids[0]) : .many(ids)
        }
    }

    mutating func remove(_ id: Int32) {
        switch storage {
        case .one(let only):
            if only == id { storage = .many([]) }
        case .many(var ids):
            let position = Self.position(of: id, in: ids)
            guard position < ids.count, ids[position] == id else { return }
            storage = .many([])
            ids.remove(at: position)
            storage = ids.count == 1 ? .one(ids[0]) : .many(ids)
        }
    }

    /// The first index whose id is not below `id`.
    private static func position(of id: Int32, in ids: [Int32]) -> Int {
        var low = 0
        var high = ids.count
        while low < high {
            let middle = (low + high) / 2
            if ids[middle] < id { low = middle + 1 } else { high = middle }
        }
        return low
    }
}

/// A fingerprint as a node keeps it: the 16 lowercase hex digits every extractor writes, as
/// their 64-bit value (a 16-byte string is one byte too long for Swift's inline small strings,
/// so each took a heap allocation of its own); anything else as it was written.
enum PackedFingerprint: Sendable, Equatable {
    case value(UInt64)
    case text(String)

    init(_ text: String) {
        let utf8 = text.utf8
        if utf8.count == 16,
            utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
            let value = UInt64(text, radix: 16)
        {
            self = .value(value)
        } else {
            self = .text(text)
        }
    }

    /// The fingerprint exactly as it was written.
    var text: String {
        switch self {
        case .value(let value):
            return Fingerprinter.hex(value)
        case .text(let text):
            return text
        }
    }
}
