import ArgumentParser
import DeltaClient
import DeltaCore
import Foundation

/// Options every client command shares.
struct ClientOptions: ParsableArguments {
    @Argument(help: "The workspace directory", completion: .directory)
    var directory: String

    @Option(help: "Server URL (env: DELTASYNC_SERVER, REMOTE_UPLOAD_ENDPOINT). Default http://127.0.0.1:8002")
    var server: String?

    @Option(help: "Workspace name on the server (default: derived from the directory's absolute path)")
    var workspace: String?

    @Option(help: "Bearer token. Visible to other users in the process list: prefer DELTASYNC_TOKEN or --token-file")
    var token: String?

    @Option(
        help:
            "File holding the bearer token; must not be readable by group or others (default ~/.config/deltasync/token)"
    )
    var tokenFile: String?

    @Option(help: "Where the client keeps its state and outbox (default DIR/.deltasync)")
    var stateDir: String?

    @Flag(help: "Print one JSON document instead of progress and text")
    var json = false

    var root: String {
        get throws {
            let absolute =
                directory.hasPrefix("/") ? directory : FileManager.default.currentDirectoryPath + "/" + directory
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: absolute, isDirectory: &isDirectory), isDirectory.boolValue
            else {
                throw ValidationError("\(directory) is not a directory")
            }
            return try WorkspaceIdentity.normalise(path: absolute)
        }
    }

    var serverURL: String { Self.serverURL(server) }

    /// `--server`, else `DELTASYNC_SERVER` / `REMOTE_UPLOAD_ENDPOINT`, else the local default.
    static func serverURL(_ flag: String?) -> String {
        flag ?? Environment.value("DELTASYNC_SERVER", "REMOTE_UPLOAD_ENDPOINT") ?? "http://127.0.0.1:8002"
    }

    /// The token from the flag (with a warning), `DELTASYNC_TOKEN`, or a 0600 credentials file.
    func resolvedToken() throws -> String? { try Self.resolveToken(flag: token, file: tokenFile) }

    /// The token from `--token` (with a warning), `DELTASYNC_TOKEN`, or a 0600 credentials file.
    static func resolveToken(flag token: String?, file tokenFile: String?) throws -> String? {
        if let token {
            FileHandle.standardError.write(
                Data("warning: --token is visible in the process list; prefer DELTASYNC_TOKEN or --token-file\n".utf8))
            return token
        }
        if let token = Environment.value("DELTASYNC_TOKEN") { return token }
        let explicit = tokenFile != nil
        let path =
            tokenFile ?? (ProcessInfo.processInfo.environment["HOME"].map { $0 + "/.config/deltasync/token" } ?? "")
        guard !path.isEmpty, FileManager.default.fileExists(atPath: path) else {
            if explicit { throw ValidationError("token file \(path) does not exist") }
            return nil
        }
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let permissions = (attributes[.posixPermissions] as? NSNumber)?.intValue ?? 0
        guard permissions & 0o077 == 0 else {
            throw ValidationError("token file \(path) is readable by others; run: chmod 600 \(path)")
        }
        let text = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    func stateDirectory(root: String) -> String {
        guard let stateDir else { return root + "/" + PushConfiguration.defaultStateDirectoryName }
        return stateDir.hasPrefix("/") ? stateDir : FileManager.default.currentDirectoryPath + "/" + stateDir
    }

    func validateWorkspace() throws {
        if let workspace, !WorkspaceIdentity.isValidName(workspace) {
            throw ValidationError("--workspace must match ^[a-z0-9][a-z0-9._-]{0,63}$")
        }
    }
}

/// `--compression`, shared by the commands that upload.
struct CompressionOption: ParsableArguments {
    @Option(
        help: """
            auto, gzip or none. auto sends bundles uncompressed to a deltasync server on loopback \
            (gzip would cost more CPU than it saves there) and as tar.gz everywhere else. Default auto
            """
    )
    var compression = BundleCompression.auto.rawValue

    func validate() throws {
        guard BundleCompression(rawValue: compression) != nil else {
            throw ValidationError("--compression must be auto, gzip or none")
        }
    }

    var value: BundleCompression { BundleCompression(rawValue: compression) ?? .auto }
}
