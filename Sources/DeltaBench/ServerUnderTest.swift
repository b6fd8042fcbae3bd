import Foundation

/// The real `deltasync serve` binary as a child process on 127.0.0.1 with a fresh work dir, so
/// its RSS is measured on its own.
final class ServerUnderTest {
    let process = Process()
    let port: Int
    let workDirectory: String

    /// The `deltasync` binary built beside `deltasync-bench`.
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("deltasync")
    }

    init(workDirectory: String, extraArguments: [String] = []) throws {
        self.workDirectory = workDirectory
        let binary = Self.binary
        process.executableURL = binary
        process.arguments =
            ["serve", "--host", "127.0.0.1", "--port", "0", "--work-dir", workDirectory, "--log-level", "error"]
            + extraArguments
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        var text = ""
        var found: Int?
        while found == nil {
            let data = pipe.fileHandleForReading.availableData
            if data.isEmpty { break }
            text += String(decoding: data, as: UTF8.self)
            if let line = text.split(separator: "\n").first(where: { $0.contains("listening on") }),
                let colon = line.lastIndex(of: ":")
            {
                found = Int(line[line.index(after: colon)...])
            }
        }
        guard let found else {
            throw BenchError("could not start \(binary.path); build it with swift build -c release")
        }
        port = found
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Resident set size now and at its peak, in MiB.
    func memory() -> (rss: Double, peak: Double) { ProcessStatus.memory(of: process.processIdentifier) }

    func stop() {
        process.terminate()
        process.waitUntilExit()
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// What /proc says about a child process.
enum ProcessStatus {
    /// Resident set size now (`VmRSS`) and at its peak (`VmHWM`), in MiB.
    static func memory(of pid: Int32) -> (rss: Double, peak: Double) {
        (field("VmRSS:", of: pid), field("VmHWM:", of: pid))
    }

    /// The resident pages that are the process's own (`RssAnon`: heap, stacks, private copies),
    /// in MiB: RSS without the binary's and libraries' pages, which belong to the page cache.
    static func privateMemory(of pid: Int32) -> Double { field("RssAnon:", of: pid) }

    private static func field(_ name: String, of pid: Int32) -> Double {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(name) {
            return (line.split(separator: " ").compactMap { Double($0) }.first ?? 0) / 1024
        }
        return 0
    }

    /// User and system CPU time so far, in seconds (fields 14 and 15 of /proc/PID/stat).
    static func cpuSeconds(of pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}
