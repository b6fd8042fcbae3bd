import Foundation
import DeltaTestSupport
import Glibc

/// A fresh temporary directory for one test, removed (whatever the test left in it, including
/// unreadable directories and names that are not UTF-8) when the value is released.
final class ScanTestDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/deltasync-scan-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.flatMap { mkdtemp($0) }.map { String(cString: $0) }
        }
        guard let made else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        path = made
    }

    deinit {
        // chmod first so a test that left a directory unreadable (as non-root) is still removed.
        _ = try? Self.run("/bin/chmod", ["-R", "u+rwx", path])
        _ = try? Self.run("/bin/rm", ["-rf", path])
    }

    /// Writes a file, creating parent directories.
    func write(_ relative: String, _ contents: String = "", mode: mode_t = 0o644) throws {
        let url = URL(fileURLWithPath: path + "/" + relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(contents.utf8).write(to: url)
        guard chmod(url.path, mode) == 0 else { throw posixError() }
    }

    func makeDirectory(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path + "/" + relative, withIntermediateDirectories: true)
    }

    func symlink(_ relative: String, to target: String) throws {
        guard Glibc.symlink(target, path + "/" + relative) == 0 else { throw posixError() }
    }

    /// Creates an empty file whose name is given as raw bytes (for names that are not UTF-8).
    func createFile(inDirectory relative: String, nameBytes: [UInt8]) throws {
        let directory = open(path + "/" + relative, O_RDONLY | O_DIRECTORY)
        guard directory >= 0 else { throw posixError() }
        defer { close(directory) }
        let fd = (nameBytes + [0]).withUnsafeBufferPointer { name in
            name.baseAddress.map { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: name.count) {
                    openat(directory, $0, O_CREAT | O_WRONLY, 0o644)
                }
            } ?? -1
        }
        guard fd >= 0 else { throw posixError() }
        close(fd)
    }

    func setMode(_ relative: String, _ mode: mode_t) throws {
        guard chmod(path + "/" + relative, mode) == 0 else { throw posixError() }
    }

    /// The inode number (through FileManager: in a clean build `stat` may resolve to NIO's C
    /// module, which this target does not import).
    func inode(_ relative: String) throws -> UInt64 {
        let attributes = try FileManager.default.attributesOfItem(atPath: path + "/" + relative)
        return (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
    }

    /// Runs a program to completion and returns its standard output.
    @discardableResult
    static func run(
        _ executable: String, _ arguments: [String], in directory: String? = nil, environment: [String: String]? = nil
    )
        throws -> Data
    {
        let result = try ChildProcess.run(executable, arguments, environment: environment, directory: directory)
        guard result.status == 0 else {
            throw CocoaError(
                .fileReadUnknown,
                userInfo: [NSLocalizedDescriptionKey: "\(executable) \(arguments) exited \(result.status)"])
        }
        return result.stdout
    }

    private func posixError() -> POSIXError {
        POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
    }
}
