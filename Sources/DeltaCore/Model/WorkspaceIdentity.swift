import Crypto

/// How a workspace is named: an explicit `workspace` name, or a key derived from the uploader's
/// `workspace_path` as `<basename-slug>-<first 16 hex of sha256(normalised path)>`, so two
/// repositories that share a basename never share a workspace.
public enum WorkspaceIdentity {
    /// Whether `name` is a valid explicit workspace name (`^[a-z0-9][a-z0-9._-]{0,63}$`).
    public static func isValidName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...64).contains(bytes.count) else { return false }
        for (index, byte) in bytes.enumerated() {
            let alnum = (0x30...0x39).contains(byte) || (0x61...0x7a).contains(byte)
            if index == 0 {
                if !alnum { return false }
            } else if !(alnum || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")) {
                return false
            }
        }
        return true
    }

    /// Lexically normalises an absolute path: collapses `//`, `.` and `..`, drops a trailing `/`.
    /// Throws `INVALID_WORKSPACE` for a relative or empty path.
    public static func normalise(path: String) throws -> String {
        guard path.hasPrefix("/") else {
            throw DeltaError(
                .invalidWorkspace, "workspace_path must be an absolute path, got '\(PathRules.printable(path))'")
        }
        if path.utf8.contains(0) {
            throw DeltaError(.invalidWorkspace, "workspace_path contains a NUL character")
        }
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                _ = parts.popLast()
                continue
            }
            parts.append(part)
        }
        return "/" + parts.joined(separator: "/")
    }

    /// The workspace key for an uploader's `workspace_path`.
    public static func key(forPath path: String) throws -> String {
        let normalised = try normalise(path: path)
        let digest = SHA256.hash(data: Array(normalised.utf8)).hexString
        let base = normalised.split(separator: "/").last.map(String.init) ?? "root"
        return "\(slug(base))-\(digest.prefix(16))"
    }

    /// Resolves the key from an explicit name (wins) or a path. Throws `INVALID_WORKSPACE`.
    public static func resolve(name: String?, path: String?) throws -> String {
        if let name, !name.isEmpty {
            guard isValidName(name) else {
                throw DeltaError(
                    .invalidWorkspace,
                    "workspace name '\(PathRules.printable(name))' must match ^[a-z0-9][a-z0-9._-]{0,63}$"
                )
            }
            return name
        }
        if let path, !path.isEmpty { return try key(forPath: path) }
        throw DeltaError(.invalidWorkspace, "a 'workspace' name or a 'workspace_path' is required")
    }

    /// The collection name existing clients expect: `<basename>-<first 8 hex of sha256(basename)>`.
    public static func collectionName(forPath path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        return "\(base)-\(SHA256.hash(data: Array(base.utf8)).hexString.prefix(8))"
    }

    /// Lower-case `[a-z0-9._-]`, other characters folded to `-`, at most 40 bytes, never empty.
    static func slug(_ text: String) -> String {
        var out = [UInt8]()
        for byte in text.lowercased().utf8 {
            let keep =
                (0x30...0x39).contains(byte) || (0x61...0x7a).contains(byte) || byte == UInt8(ascii: ".")
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            let next = keep ? byte : UInt8(ascii: "-")
            if next == UInt8(ascii: "-"), out.last == UInt8(ascii: "-") { continue }
            out.append(next)
            if out.count == 40 { break }
        }
        while let first = out.first, !((0x30...0x39).contains(first) || (0x61...0x7a).contains(first)) {
            out.removeFirst()
        }
        return out.isEmpty ? "ws" : String(decoding: out, as: UTF8.self)
    }
}
