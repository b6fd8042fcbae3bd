import ArgumentParser

/// `deltasync`: the server, the clients and their tools in one binary.
@main
struct DeltaSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "deltasync",
        abstract: "Keep a remote copy of a code workspace fresh within milliseconds of every save.",
        version: "0.1.0",
        subcommands: [
            Serve.self, Push.self, Watch.self, Pull.self, Status.self, Graph.self, Token.self, Repair.self,
            Compact.self,
        ]
    )
}
