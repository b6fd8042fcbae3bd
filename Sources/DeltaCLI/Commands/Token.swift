import ArgumentParser
import DeltaCore
import DeltaServer
import Logging

/// `deltasync token create`: issues a bearer token, printed once.
struct Token: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage bearer tokens.",
        subcommands: [Create.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
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
            try WorkDirectory.prepare(work.resolved, logger: Logger(label: "deltasync.token"))
            let storage = try SQLiteStorage(path: work.resolved + "/deltasync.sqlite")
            let authority = TokenAuthority(storage: storage, loopback: true)
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
