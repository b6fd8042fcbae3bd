import DeltaCore
import Foundation

/// Whether bundles are gzip-compressed (`push --compression`).
public enum BundleCompression: String, Sendable, CaseIterable {
    /// Uncompressed when the server is on this machine and takes plain tars; gzip otherwise.
    case auto
    /// Always `tar.gz`, the one format every server takes.
    case gzip
    /// An uncompressed tar whenever the server takes one (ours does), whatever its address.
    case none

    /// The format of the next bundles for a server that published `info`, on this machine or
    /// not (`isLoopback`, classified once per session). A compatible-core server always gets
    /// `tar.gz`: it reads nothing else.
    func format(loopback: Bool, info: ServerInfo, kind: ServerKind) -> BundleFormat {
        guard kind == .deltasync, info.supportedFormats.contains(BundleFormat.tar.rawValue) else { return .tarGz }
        switch self {
        case .gzip: return .tarGz
        case .none: return .tar
        case .auto: return loopback ? .tar : .tarGz
        }
    }

    /// Whether `url` names this machine: `localhost`, `127.0.0.0/8` or `::1`. On loopback
    /// gzip costs far more CPU than the bytes it saves (half the client's time in a first push).
    static func isLoopback(_ url: String) -> Bool {
        guard var host = URLComponents(string: url)?.host?.lowercased() else { return false }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" { return true }
        let parts = host.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
