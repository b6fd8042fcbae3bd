#if !DELTASYNC_LIBFUZZER
    import DeltaCore

    #if canImport(Glibc)
        import Glibc
    #elseif canImport(Darwin)
        import Darwin
    #endif

    /// `deltasync-fuzz [-v] [--emit DIR] PATH…`: the ordinary build of the fuzz target. Replays
    /// each file, or every file of each directory, through the same `BundleFuzzTarget.run` that
    /// libFuzzer calls, so `scripts/fuzz.sh --replay` checks the seed corpus and the regressions
    /// without libFuzzer. A crashing input crashes this process too. `--emit DIR` also saves the
    /// `.tar.gz` each input became (plain tars are checksum-repaired and gzipped by the target):
    /// store that in `Tests/Fuzz/regressions/`, where tests read it with `BundleReader` directly.
    @main
    enum ReplayCommand {
        static func main() {
            var arguments = Array(CommandLine.arguments.dropFirst())
            let verbose = arguments.first == "-v"
            if verbose { arguments.removeFirst() }
            var emitDirectory: String?
            if arguments.count >= 2, arguments[0] == "--emit" {
                emitDirectory = arguments[1]
                arguments.removeFirst(2)
            }
            guard !arguments.isEmpty, !arguments.contains(where: { $0.hasPrefix("-") }) else {
                print("usage: deltasync-fuzz [-v] [--emit DIR] FILE_OR_DIRECTORY...")
                print("Replays bundle inputs through BundleReader (build with scripts/fuzz.sh to fuzz).")
                exit(2)
            }
            let inputs = arguments.flatMap(files(at:))
            guard !inputs.isEmpty else {
                print("no input files in \(arguments.joined(separator: " "))")
                exit(2)
            }
            let target = BundleFuzzTarget()
            defer { target.removeWorkDirectory() }
            var counts: [String: Int] = [:]
            var accepted = 0
            for path in inputs {
                let bytes: [UInt8]
                do {
                    bytes = try FileSystem.readAll(path)
                } catch {
                    print("\(path): cannot read: \(error)")
                    exit(1)
                }
                let outcome = bytes.withUnsafeBytes { raw in target.run(raw) }
                if verbose { print("\(path): \(outcome)") }
                if let emitDirectory { emit(target.inputPath, for: path, into: emitDirectory) }
                switch outcome {
                case .accepted: accepted += 1
                case .rejected(let code): counts[code, default: 0] += 1
                case .failed(let type): counts["non-DeltaError " + type, default: 0] += 1
                }
            }
            let rejected = counts.values.reduce(0, +)
            print("replayed \(inputs.count) inputs: \(accepted) accepted, \(rejected) rejected, 0 crashed")
            for (code, count) in counts.sorted(by: { $0.key < $1.key }) {
                print("  \(code): \(count)")
            }
        }

        /// Copies the file the reader was given to `directory`, named after `input`, as `.tar.gz`.
        static func emit(_ readerInput: String, for input: String, into directory: String) {
            var name = String(input.split(separator: "/").last ?? "input")
            for suffix in [".tar.gz", ".tgz", ".tar", ".gz"] where name.hasSuffix(suffix) {
                name.removeLast(suffix.count)
                break
            }
            let destination = directory + "/" + name + ".tar.gz"
            do {
                try FileSystem.createDirectory(directory)
                try RawFile.create(destination).write(try FileSystem.readAll(readerInput))
                print("wrote \(destination)")
            } catch {
                print("cannot write \(destination): \(error)")
                exit(1)
            }
        }

        /// `path` itself, or the regular files directly inside it (sorted), skipping dotfiles
        /// and README files.
        static func files(at path: String) -> [String] {
            var info = stat()
            guard stat(path, &info) == 0 else {
                print("\(path): no such file or directory")
                exit(2)
            }
            guard (info.st_mode & S_IFMT) == S_IFDIR else { return [path] }
            return BundleFuzzTarget.names(in: path)
                .filter { !$0.hasPrefix(".") && !$0.hasPrefix("README") }
                .map { path + "/" + $0 }
                .filter { stat($0, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG }
        }
    }
#endif
