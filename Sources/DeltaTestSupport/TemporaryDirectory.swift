import DeltaCore
import Foundation

/// A directory under the system temp dir, removed by `remove()` (tests run in parallel, so
/// each gets its own).
public struct TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "test") throws {
        path = NSTemporaryDirectory() + "deltasync-\(label)-" + UUID().uuidString.prefix(8).lowercased()
        try FileSystem.createDirectory(path)
    }

    public func remove() { FileSystem.removeTree(path) }

    public func sub(_ name: String) -> String { path + "/" + name }

    public func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let target = sub(name)
        try FileSystem.createDirectory(String(target[..<(target.lastIndex(of: "/") ?? target.endIndex)]))
        try FileSystem.writeAtomically(target, bytes)
        return target
    }
}

/// Runs `body` with a fresh temporary directory and removes it afterwards.
public func withTemporaryDirectory<T>(_ label: String = "test", _ body: (TemporaryDirectory) async throws -> T)
    async throws -> T
{
    let directory = try TemporaryDirectory(label)
    defer { directory.remove() }
    return try await body(directory)
}
