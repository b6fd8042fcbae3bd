import ArgumentParser
import DeltaCore
import DeltaServer
import Logging

/// `deltasync token create|list|revoke`: issues bearer tokens (printed once), lists them
/// (never their secrets) and revokes them.
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Manage bearer tokens.",
        subcommands: [Create.self, List.self, Revoke.self]
    )

    static func authority(_ work: WorkDirectoryOption) throws -> TokenAuthority {
        try WorkDirectory.prepare(work.resolved, logger: Logger(label: "deltasync.token"))
        let storage = try SQLiteStorage(path: work.resolved + "/deltasync.sqlite")
        return TokenAuthority(storage: storage, loopback: true)
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List tokens: id, workspace, scope, label, created, revoked (never the secrets)."
        )

        @OptionGroup var work: WorkDirectoryOption

        @Flag(
            help: "Print JSON: {\"tokens\":[{\"id\",\"workspace\",\"scope\",\"label\",\"created_at\",\"revoked_at\"}]}")
        var json = false

        func run() async throws {
            let tokens = try await Token.authority(work).list()
            if json {
                let rows: [[String: String?]] = tokens.map {
                    [
                        "id": $0.id, "workspace": $0.workspace, "scope": $0.scope.rawValue, "label": $0.label,
                        "created_at": $0.createdAt, "revoked_at": $0.revokedAt,
                    ]
                }
                try CommandOutput.printJSON(["tokens": rows])
                return
            }
            if tokens.isEmpty {
                print("no tokens (a loopback server is open to every local client; see `deltasync token create`)")
                return
            }
            for token in tokens {
                let state = token.revokedAt.map { "revoked \($0)" } ?? "active"
                let label = token.label.map { " \"\($0)\"" } ?? ""
                print(
                    "\(token.id)  \(token.workspace)  \(token.scope.rawValue)  created \(token.createdAt)  \(state)\(label)"
                )
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract:
                "Revoke a token by its id (from `token list`) or its secret; a running server refuses it at once.",
            discussion: """
                A revoked token stays listed and still counts as a token, so revoking the last one \
                never turns auth off on a loopback server. Session cookies holding it stop working \
                too; streams already open with it run until they reconnect.
                """
        )

        @Argument(help: "The token's id, or the token itself (dsk_…)")
        var token: String

        @OptionGroup var work: WorkDirectoryOption

        func run() async throws {
            do {
                let revoked = try await Token.authority(work).revoke(token)
                print("revoked \(revoked.id) (\(revoked.workspace), \(revoked.scope.rawValue))")
            } catch let error as DeltaError {
                throw ValidationError(error.message)
            }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create",
            abstract: "Create a token; it is printed once and stored only as its SHA-256."
        )

        @Option(help: "Workspace key or name the token is for, or '*' for every workspace")
        var workspace: String

        @Option(help: "read, write or admin")
        var scope: String

        @Option(help: "A note to recognise the token by")
        var label: String?

        @OptionGroup var work: WorkDirectoryOption

        func validate() throws {
            guard TokenRecord.Scope(rawValue: scope) != nil else {
                throw ValidationError("--scope must be read, write or admin")
            }
        }

        func run() async throws {
            let authority = try Token.authority(work)
            do {
                let secret = try await authority.create(
                    workspace: workspace, scope: TokenRecord.Scope(rawValue: scope) ?? .read, label: label
                )
                print(secret)
            } catch let error as DeltaError {
                throw ValidationError(error.message)
            }
        }
    }
}
