import DeltaCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs one fuzz input through the whole bundle reader (gzip → tar → manifest and operations
/// JSON → content matcher), exactly as the server does: the bytes are written to a file and
/// handed to `BundleReader.read(path:)`.
///
/// An input that starts with gzip's first magic byte (0x1f), or is empty, is written as it is.
/// Any other input is taken as a plain tar and gzip-compressed on the way to the file: mutating
/// compressed bytes almost always breaks the deflate stream or its CRC, which the reader checks
/// only at the end, so without this the tar parser's later states, the JSON and the matcher would
/// rarely see a mutated input. Its header checksums are rewritten first (`TarChecksumRepair`),
/// so mutated header fields get past the checksum too.
///
/// Any thrown error is a valid answer to bad input. What is not: a trap, a sanitizer report, a
/// spool directory left behind (on error the reader must remove it; on success `discard()` must),
/// or an accepted bundle whose operations point at content that is not in its spool.
struct BundleFuzzTarget: Sendable {
    /// Small limits keep one execution fast; a bomb stops at these caps.
    static let limits = BundleLimits(
        maxCompressedBytes: 1 << 20, maxUncompressedBytes: 8 << 20, maxFileBytes: 1 << 20, maxEntries: 1000
    )

    /// What the reader made of one input.
    enum Outcome: Hashable, CustomStringConvertible {
        case accepted(operations: Int)
        case rejected(code: String)
        /// An error that is not a `DeltaError` (allowed, but worth a look).
        case failed(type: String)

        var description: String {
            switch self {
            case .accepted(let operations): return "accepted (\(operations) operations)"
            case .rejected(let code): return "rejected \(code)"
            case .failed(let type): return "failed with \(type)"
            }
        }
    }

    /// A per-process directory (in /dev/shm when it is writable) holding the input file and the
    /// reader's spool parent.
    let workDirectory: String

    var inputPath: String { workDirectory + "/input.tar.gz" }
    var spoolParent: String { workDirectory + "/tmp" }

    init() {
        let base: String
        if access("/dev/shm", W_OK) == 0 {
            base = "/dev/shm"
        } else if let tmp = getenv("TMPDIR").map({ String(cString: $0) }), !tmp.isEmpty {
            base = tmp
        } else {
            base = "/tmp"
        }
        workDirectory = base + "/deltasync-fuzz-\(getpid())"
        FileSystem.removeTree(workDirectory)
        do {
            try FileSystem.createDirectory(spoolParent, mode: 0o700)
        } catch {
            fatalError("cannot create the fuzz work directory: \(error)")
        }
    }

    /// Feeds `bytes` to the reader and checks that nothing was left behind.
    func run(_ bytes: UnsafeRawBufferPointer) -> Outcome {
        do {
            let file = try RawFile.create(inputPath, mode: 0o600)
            if bytes.isEmpty || bytes[0] == 0x1f {
                try file.write(bytes)
            } else {
                var tar = Array(bytes)
                TarChecksumRepair.repair(&tar)
                let deflater = try GzipDeflater(level: 1, outputChunkSize: 64 * 1024)
                try tar.withUnsafeBytes { raw in try deflater.feed(raw) { chunk in try file.write(chunk) } }
                try deflater.finish { chunk in try file.write(chunk) }
            }
        } catch {
            fatalError("cannot write the fuzz input: \(error)")
        }
        let outcome: Outcome
        do {
            let bundle = try BundleReader(limits: Self.limits, temporaryDirectory: spoolParent).read(path: inputPath)
            checkSpooledContent(of: bundle)
            outcome = .accepted(operations: bundle.operations.count)
            bundle.discard()
        } catch let error as DeltaError {
            outcome = .rejected(code: error.code.rawValue)
        } catch {
            outcome = .failed(type: String(describing: type(of: error)))
        }
        let leftovers = Self.names(in: spoolParent)
        if !leftovers.isEmpty {
            fatalError("BundleReader left \(leftovers) in \(spoolParent) after the input was \(outcome)")
        }
        return outcome
    }

    /// Removes the work directory (at exit).
    func removeWorkDirectory() { FileSystem.removeTree(workDirectory) }

    /// An accepted bundle's content must be spooled in its own spool files (anonymous, or named
    /// in the spool directory), at its size.
    private func checkSpooledContent(of bundle: ValidatedBundle) {
        guard bundle.spoolPrefix.hasPrefix(spoolParent + "/") else {
            fatalError("spool files \(bundle.spoolPrefix)* are outside \(spoolParent)")
        }
        for (index, validated) in bundle.operations.enumerated() {
            guard let content = validated.content else {
                switch validated.operation.operation {
                case .created, .updated: fatalError("operation \(index) was accepted without content")
                case .moved, .deleted: continue
                }
            }
            var info = stat()
            let inPlace =
                if let anonymous = content.anonymous {
                    content.path == anonymous.path && fstat(anonymous.file.fd, &info) == 0
                } else {
                    content.path.hasPrefix(bundle.spoolPrefix) && bundle.spooled.contains(content.path)
                        && stat(content.path, &info) == 0
                }
            guard inPlace, Int64(info.st_size) == content.digest.size else {
                fatalError("operation \(index)'s content \(content.path) is missing or not \(content.digest.size) B")
            }
        }
    }

    /// The entry names of a directory, without `.` and `..`.
    static func names(in directory: String) -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = FileSystem.direntName(entry)
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }
}
