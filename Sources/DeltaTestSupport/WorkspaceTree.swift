import Crypto
import DeltaCore
import Foundation

/// A workspace directory on disk for client tests, and helpers to compare it with a server's
/// materialised copy.
public struct WorkspaceTree: Sendable {
    public let root: String

    public init(root: String) throws {
        self.root = root
        try FileSystem.createDirectory(root)
    }

    @discardableResult
    public func write(_ path: String, _ text: String, mode: UInt32 = 0o644) throws -> String {
        try write(path, Array(text.utf8), mode: mode)
    }

    @discardableResult
    public func write(_ path: String, _ bytes: [UInt8], mode: UInt32 = 0o644) throws -> String {
        let target = root + "/" + path
        if let slash = target.lastIndex(of: "/") { try FileSystem.createDirectory(String(target[..<slash])) }
        let file = try RawFile.create(target, mode: mode)
        try file.write(bytes)
        chmod(target, mode)
        return target
    }

    public func remove(_ path: String) { FileSystem.removeTree(root + "/" + path) }

    public func move(_ from: String, _ to: String) throws {
        let target = root + "/" + to
        if let slash = target.lastIndex(of: "/") { try FileSystem.createDirectory(String(target[..<slash])) }
        guard rename(root + "/" + from, target) == 0 else { throw DeltaError.posix("rename", from) }
    }

    /// `{relative path: "sha256 mode"}` of every regular file below `directory`, skipping the
    /// top-level names in `excluding`.
    public static func snapshot(_ directory: String, excluding: Set<String> = []) throws -> [String: String] {
        var result: [String: String] = [:]
        for (relative, entry) in try DiskListing.entries(directory, excluding: excluding)
        where entry.type == UInt32(S_IFREG) {
            let digest = SHA256.hash(data: try FileSystem.readAll(directory + "/" + relative)).hexString
            result[relative] = digest + (entry.permissions & 0o111 != 0 ? " x" : "")
        }
        return result
    }

    /// What differs between two ``snapshot(_:excluding:)``s, path by path (the first 20), for a
    /// failed comparison's message: each side's `sha256 [x]`, or `absent`.
    public static func differences(local: [String: String], remote: [String: String]) -> String {
        let paths = Set(local.keys).union(remote.keys).filter { local[$0] != remote[$0] }.sorted()
        let listed = paths.prefix(20).map { "\($0): local \(local[$0] ?? "absent"), remote \(remote[$0] ?? "absent")" }
        return "\(paths.count) path(s) differ" + (listed.isEmpty ? "" : ":\n" + listed.joined(separator: "\n"))
    }
}
