import Foundation

/// What resolution needs beyond the paths: C include directories (`.deltasync-graph.json`),
/// the root `tsconfig.json`/`jsconfig.json` (`baseUrl`, `paths`) and every `go.mod` (module
/// path → directory). All are synced files of the workspace, so a change to one re-resolves the
/// workspace.
public struct GraphConfiguration: Sendable, Hashable {
    /// The synced root file configuring the graph.
    public static let fileName = ".deltasync-graph.json"
    /// Defaults that work on a Linux kernel tree and on common layouts (DESIGN §8).
    public static let defaultCIncludeDirectories = ["include", "include/uapi", "arch/*/include", "arch/*/include/uapi"]

    /// One `compilerOptions.paths` entry: `@app/*` → `["src/app/*"]`.
    public struct PathMapping: Sendable, Hashable {
        public var pattern: String
        public var targets: [String]
    }

    /// Include directory patterns in search order; a `*` segment matches every directory there.
    public var cIncludeDirectories: [String] = Self.defaultCIncludeDirectories
    /// `compilerOptions.baseUrl`, relative to the root, normalised ("" is the root).
    public var scriptBaseURL: String?
    public var scriptPaths: [PathMapping] = []
    /// Go modules, longest module path first.
    public private(set) var goModules: [GoModule] = []
    /// What was wrong with a configuration file (kept, reported in the status; the defaults apply).
    public var problems: [String] = []

    /// A `go.mod`: its module path and the directory it sits in.
    public struct GoModule: Sendable, Hashable {
        public var module: String
        public var directory: String
    }

    public init() {}

    /// Whether a change to `path` changes the configuration.
    public static func isConfigurationFile(_ path: String) -> Bool {
        path == fileName || path == "tsconfig.json" || path == "jsconfig.json" || path == "go.mod"
            || path.hasSuffix("/go.mod")
    }

    /// The configuration given the contents of every configuration file of the workspace.
    public init(files: [String: [UInt8]]) {
        if let bytes = files[Self.fileName] {
            do {
                let object = try JSONSerialization.jsonObject(with: Data(bytes))
                guard let root = object as? [String: Any] else { throw GraphConfigurationError("not a JSON object") }
                if let dirs = root["c_include_dirs"] {
                    guard let list = dirs as? [String] else {
                        throw GraphConfigurationError("c_include_dirs must be an array of strings")
                    }
                    cIncludeDirectories = list.compactMap { PathIndex.normalize($0) }.filter { !$0.isEmpty }
                }
            } catch {
                problems.append("\(Self.fileName): \(error); using the default include directories")
            }
        }
        if let bytes = files["tsconfig.json"] ?? files["jsconfig.json"] {
            let name = files["tsconfig.json"] != nil ? "tsconfig.json" : "jsconfig.json"
            do {
                let object = try JSONSerialization.jsonObject(with: Data(Self.strippingJSONComments(bytes)))
                let options = (object as? [String: Any])?["compilerOptions"] as? [String: Any] ?? [:]
                if let base = options["baseUrl"] as? String { scriptBaseURL = PathIndex.normalize(base) }
                if let paths = options["paths"] as? [String: Any] {
                    scriptPaths = paths.keys.sorted().map { key in
                        PathMapping(pattern: key, targets: paths[key] as? [String] ?? [])
                    }
                }
            } catch {
                problems.append("\(name): \(error)")
            }
        }
        for (path, bytes) in files where path == "go.mod" || path.hasSuffix("/go.mod") {
            if let module = Self.goModulePath(bytes) {
                goModules.append(GoModule(module: module, directory: PathIndex.directory(of: path)))
            }
        }
        goModules.sort { ($0.module.count, $0.directory) > ($1.module.count, $1.directory) }
    }

    /// The `module` line of a `go.mod`.
    static func goModulePath(_ bytes: [UInt8]) -> String? {
        for line in String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard text.hasPrefix("module") else { continue }
            var rest = text.dropFirst("module".count).trimmingCharacters(in: .whitespaces)
            if let comment = rest.range(of: "//") { rest = String(rest[..<comment.lowerBound]) }
            rest = rest.trimmingCharacters(in: CharacterSet(charactersIn: "\" \t"))
            return rest.isEmpty ? nil : rest
        }
        return nil
    }

    /// `tsconfig.json` allows comments and trailing commas; JSONSerialization does not.
    static func strippingJSONComments(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        var inString = false
        while index < bytes.count {
            let byte = bytes[index]
            if inString {
                out.append(byte)
                if byte == UInt8(ascii: "\\"), index + 1 < bytes.count {
                    out.append(bytes[index + 1])
                    index += 1
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
            } else if byte == UInt8(ascii: "\"") {
                inString = true
                out.append(byte)
            } else if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "/") {
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
                continue
            } else if byte == UInt8(ascii: "/"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") {
                index += 2
                while index + 1 < bytes.count,
                    !(bytes[index] == UInt8(ascii: "*") && bytes[index + 1] == UInt8(ascii: "/"))
                {
                    index += 1
                }
                index += 2
                continue
            } else if byte == UInt8(ascii: "]") || byte == UInt8(ascii: "}") {
                // Drop a trailing comma before the closing bracket.
                var back = out.count - 1
                while back >= 0,
                    [UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\t"), UInt8(ascii: "\r")].contains(out[back])
                {
                    back -= 1
                }
                if back >= 0, out[back] == UInt8(ascii: ",") { out.remove(at: back) }
                out.append(byte)
            } else {
                out.append(byte)
            }
            index += 1
        }
        return out
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.cIncludeDirectories == rhs.cIncludeDirectories && lhs.scriptBaseURL == rhs.scriptBaseURL
            && lhs.scriptPaths == rhs.scriptPaths && lhs.goModules == rhs.goModules
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(cIncludeDirectories)
        hasher.combine(scriptBaseURL)
        hasher.combine(scriptPaths)
        hasher.combine(goModules)
    }
}

struct GraphConfigurationError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
