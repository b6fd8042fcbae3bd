import Crypto
import DeltaCore
import Foundation
import Synchronization

/// Issues and checks bearer tokens: 32 random bytes shown once, stored as their SHA-256, scoped
/// to one workspace (or `*`) with `read`, `write` or `admin` rights.
public struct TokenAuthority: Sendable {
    let storage: any TokenStore
    /// Whether this server listens on loopback only.
    let loopback: Bool
    /// Set once a token was seen to exist: tokens are revoked, never deleted, so from then on
    /// every request needs one and the count is not asked again.
    private let tokenExisted = Latch()

    public init(storage: any TokenStore, loopback: Bool) {
        self.storage = storage
        self.loopback = loopback
    }

    /// Creates a token and returns its secret (the only time it is visible).
    public func create(workspace: String, scope: TokenRecord.Scope, label: String?) async throws -> String {
        guard workspace == "*" || WorkspaceIdentity.isValidName(workspace) else {
            throw DeltaError(
                .invalidWorkspace, "--workspace must be '*' or a workspace key matching ^[a-z0-9][a-z0-9._-]{0,63}$"
            )
        }
        var bytes = [UInt8](repeating: 0, count: 32)
        var generator = SystemRandomNumberGenerator()
        for index in bytes.indices { bytes[index] = UInt8.random(in: 0...255, using: &generator) }
        let secret = "dsk_" + bytes.map { String(format: "%02x", $0) }.joined()
        let record = TokenRecord(
            id: UUID().uuidString.lowercased(), hash: Self.hash(secret), workspace: workspace, scope: scope,
            label: label,
            createdAt: Timestamp.now()
        )
        try await storage.insertToken(record)
        return secret
    }

    /// Revokes a token by its id (as `token list` shows it) or by its secret; returns the record.
    /// `NOT_FOUND` when nothing matches, or it was already revoked.
    public func revoke(_ idOrSecret: String) async throws -> TokenRecord {
        let all = try await storage.tokens()
        let byHash = Self.hash(idOrSecret)
        guard var token = all.first(where: { $0.id == idOrSecret || $0.hash == byHash }) else {
            throw DeltaError(.notFound, "no token has the id or secret given (see `deltasync token list`)")
        }
        let now = Timestamp.now()
        guard try await storage.revokeToken(id: token.id, at: now) else {
            throw DeltaError(.notFound, "token \(token.id) was already revoked at \(token.revokedAt ?? "?")")
        }
        token.revokedAt = now
        return token
    }

    /// Every token, revoked ones included.
    public func list() async throws -> [TokenRecord] { try await storage.tokens() }

    static func hash(_ secret: String) -> String { SHA256.hash(data: Array(secret.utf8)).hexString }

    /// Whether requests need a token: off loopback always, on loopback once any token exists.
    func isRequired() async throws -> Bool {
        if !loopback || tokenExisted.isSet { return true }
        guard try await storage.tokenCount() > 0 else { return false }
        tokenExisted.set()
        return true
    }

    /// The token an `Authorization` header presents: nil without the header, `UNAUTHORIZED` when
    /// it is not `Bearer <token>` or the token is unknown. The one place the header is parsed.
    func resolve(authorization header: String?) async throws -> TokenRecord? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw DeltaError(.unauthorized, "Authorization header must be 'Bearer <token>'")
        }
        return try await resolve(String(parts[1]).trimmingCharacters(in: .whitespaces))
    }

    /// Looks a presented secret up; `UNAUTHORIZED` if it is unknown.
    func resolve(_ secret: String) async throws -> TokenRecord {
        guard let token = try await storage.token(hash: Self.hash(secret)) else {
            throw DeltaError(.unauthorized, "the bearer token is not valid")
        }
        guard token.revokedAt == nil else {
            throw DeltaError(.unauthorized, "the bearer token was revoked")
        }
        return token
    }

    /// Checks only that a token is present and its scope allows `scope` (the workspace is not
    /// known yet).
    static func authorizeScope(_ token: TokenRecord?, scope: TokenRecord.Scope) throws {
        guard let token else {
            throw DeltaError(.unauthorized, "this server requires a bearer token (Authorization: Bearer <token>)")
        }
        guard token.scope.allows(scope) else {
            throw DeltaError(
                .forbidden, "the token's scope '\(token.scope.rawValue)' does not allow '\(scope.rawValue)'")
        }
    }

    /// Checks `token` may act on `workspace` with `scope` (when auth is required at all).
    static func authorize(_ token: TokenRecord?, required: Bool, workspace: String?, scope: TokenRecord.Scope) throws {
        guard required else { return }
        try authorizeScope(token, scope: scope)
        guard let token else { return }
        if token.workspace != "*" && token.workspace != workspace {
            throw DeltaError(.forbidden, "the token is not valid for workspace '\(workspace ?? "")'")
        }
    }
}

/// A flag that is only ever set, shared by copies of the struct holding it.
private final class Latch: Sendable {
    private let value = Atomic<Bool>(false)

    var isSet: Bool { value.load(ordering: .acquiring) }

    func set() { value.store(true, ordering: .releasing) }
}
