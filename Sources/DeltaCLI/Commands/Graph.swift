import ArgumentParser
import DeltaClient
import DeltaCore
import DeltaServer
import Foundation
import Logging

/// `deltasync graph dependents|dependencies|symbols|search|invalidations`: the server's code
/// graph of a workspace.
struct Graph: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph",
        abstract: "Query the server's code graph of a workspace: dependents, dependencies, symbols, search.",
        subcommands: [
            Dependents.self, Dependencies.self, Symbols.self, Search.self, Invalidations.self, Rebuild.self,
        ]
    )

    /// Options every graph query shares.
    struct Options: ParsableArguments {
        @Option(help: "Server URL (env: DELTASYNC_SERVER, REMOTE_UPLOAD_ENDPOINT). Default http://127.0.0.1:8002")
        var server: String?

        @Option(help: "Workspace name on the server (default: derived from --dir, as push derives it)")
        var workspace: String?

        @Option(help: "The workspace directory the default workspace name is derived from", completion: .directory)
        var dir: String = "."

        @Option(
            help: "Bearer token. Visible to other users in the process list: prefer DELTASYNC_TOKEN or --token-file")
        var token: String?

        @Option(help: "File holding the bearer token; must not be readable by group or others")
        var tokenFile: String?

        @Flag(help: "Print the server's JSON reply instead of text")
        var json = false

        func validate() throws {
            if let workspace, !WorkspaceIdentity.isValidName(workspace) {
                throw ValidationError("--workspace must match ^[a-z0-9][a-z0-9._-]{0,63}$")
            }
        }

        var reference: WorkspaceReference {
            get throws {
                let absolute = dir.hasPrefix("/") ? dir : FileManager.default.currentDirectoryPath + "/" + dir
                return WorkspaceReference(name: workspace, path: try WorkspaceIdentity.normalise(path: absolute))
            }
        }

        func api() throws -> DeltaAPI {
            DeltaAPI(
                baseURL: ClientOptions.serverURL(server),
                token: try ClientOptions.resolveToken(flag: token, file: tokenFile), timeout: .seconds(60))
        }

        /// Runs a query and prints its reply as JSON or through `text`.
        func run<T: Encodable & Sendable>(
            _ query: @Sendable (DeltaAPI, WorkspaceReference) async throws -> T, text: (T) -> Void
        )
            async throws
        {
            let api = try api()
            let reference = try reference
            var reply: T?
            try await CommandOutput.reportingErrors { reply = try await query(api, reference) }
            guard let reply else { return }
            if json { try CommandOutput.printJSON(reply) } else { text(reply) }
        }
    }

    static func printPaths(_ reply: GraphPathsResponse, what: String) {
        if reply.results.isEmpty { print("no \(what) of \(reply.path) (indexed to sequence \(reply.indexedSequence))") }
        for result in reply.results {
            print(result.depth > 1 ? "\(result.path)  (depth \(result.depth))" : result.path)
        }
        for unresolved in reply.unresolved {
            print("unresolved: \(unresolved.specifier) (line \(unresolved.line))")
        }
    }

    /// What `dependents` and `dependencies` take.
    struct Walk: ParsableArguments {
        @Argument(help: "Workspace-relative path of the file") var path: String
        @Flag(help: "Follow the edges further: importers of importers, or imports of imports") var transitive = false
        @Option(help: "How many steps to follow with --transitive (default: all)") var depth: Int?
        @OptionGroup var options: Options

        func run(dependents: Bool) async throws {
            let (path, transitive, depth) = (path, transitive, depth)
            try await options.run(
                { api, workspace in
                    try await api.graphRelated(
                        dependents: dependents, workspace: workspace, path: path, transitive: transitive, depth: depth)
                }, text: { Graph.printPaths($0, what: dependents ? "dependents" : "dependencies") })
        }
    }

    struct Dependents: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dependents", abstract: "Files that import PATH (directly, or --transitive).")
        @OptionGroup var walk: Walk

        func run() async throws { try await walk.run(dependents: true) }
    }

    struct Dependencies: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dependencies",
            abstract: "Files PATH imports (directly, or --transitive), and its unresolved imports.")
        @OptionGroup var walk: Walk

        func run() async throws { try await walk.run(dependents: false) }
    }

    struct Symbols: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "symbols", abstract: "The top-level definitions of PATH.")
        @Argument(help: "Workspace-relative path of the file") var path: String
        @OptionGroup var options: Options

        func run() async throws {
            let path = path
            try await options.run({ api, workspace in try await api.graphSymbols(workspace: workspace, path: path) }) {
                reply in
                print("\(reply.path): \(reply.language), fingerprint \(reply.fingerprint)")
                for symbol in reply.symbols { print("  \(symbol.line)\t\(symbol.kind)\t\(symbol.signature)") }
            }
        }
    }

    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "search",
            abstract: "Symbols named QUERY: exact matches first, then prefix, then substring.")
        @Argument(help: "A symbol name, or part of one") var query: String
        @Option(help: "Most results") var limit = 50
        @OptionGroup var options: Options

        func run() async throws {
            let (query, limit) = (query, limit)
            try await options.run({ api, workspace in
                try await api.graphSearch(workspace: workspace, query: query, limit: limit)
            }) { reply in
                if reply.results.isEmpty { print("no symbol matches \(query)") }
                for result in reply.results {
                    print("\(result.name)\t\(result.kind)\t\(result.path):\(result.line)\t(\(result.match))")
                }
            }
        }
    }

    struct Invalidations: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "invalidations",
            abstract: "Invalidation records after sequence SINCE: what each indexed change invalidated.")
        @Option(help: "Records whose to_sequence is after this") var since: Int64 = 0
        @Option(help: "Most records") var limit = 100
        @OptionGroup var options: Options

        func run() async throws {
            let (since, limit) = (since, limit)
            try await options.run({ api, workspace in
                try await api.graphInvalidations(workspace: workspace, since: since, limit: limit)
            }) { reply in
                for record in reply.records {
                    let span =
                        record.fromSequence == record.toSequence
                        ? "\(record.toSequence)" : "\(record.fromSequence)-\(record.toSequence)"
                    print("sequence \(span): \(record.changedCount) changed, \(record.invalidatedCount) invalidated")
                    for path in record.invalidated.prefix(20) { print("  \(path)") }
                    if record.invalidatedCount > 20 { print("  … and \(record.invalidatedCount - 20) more") }
                }
                if reply.hasMore { print("(more: --since \(reply.records.last?.toSequence ?? since))") }
            }
        }
    }

    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rebuild",
            abstract: "Build a workspace's code graph from scratch, with the server stopped.",
            discussion: """
                The server keeps every graph up to date by itself; this is for measuring a full \
                build, or for starting again after a change of extractors. It reads the files of \
                the workspace from WORK_DIR and replaces the persisted graph.
                """
        )

        @Option(help: "Workspace key whose graph to rebuild")
        var workspace: String

        @OptionGroup var work: WorkDirectoryOption

        func run() async throws {
            CommandOutput.bootstrapLogging(level: .warning)
            ServerAllocator.configure()
            let started = ContinuousClock.now
            do {
                let (files, edges) = try await DeltaServer.rebuildGraph(
                    workDirectory: work.resolved, workspace: workspace, logger: Logger(label: "deltasync.graph"))
                let elapsed = ContinuousClock.now - started
                let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
                print(
                    String(
                        format: "rebuilt the graph of '\(workspace)': %d files, %d edges in %.2f s (%.0f files/s)",
                        files, edges, seconds, Double(files) / max(seconds, 0.001)))
            } catch let error as DeltaError {
                throw ValidationError(error.message)
            }
        }
    }
}
