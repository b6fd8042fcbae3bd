public import DeltaCore

/// The code graph's queries (`/api/v1/graph/…`).
extension DeltaAPI {
    /// Files importing `path` (`dependents`) or imported by it (`dependencies`), direct or, with
    /// `transitive`, up to `depth` steps away.
    public func graphRelated(
        dependents: Bool, workspace: WorkspaceReference, path: String, transitive: Bool, depth: Int?
    ) async throws -> GraphPathsResponse {
        var query = workspace.query + "&path=" + WorkspaceReference.escape(path)
        if transitive { query += "&transitive=true" }
        if let depth { query += "&depth=\(depth)" }
        return try await get(
            "/api/v1/graph/\(dependents ? "dependents" : "dependencies")?" + query, as: GraphPathsResponse.self)
    }

    public func graphSymbols(workspace: WorkspaceReference, path: String) async throws -> GraphSymbolsResponse {
        try await get(
            "/api/v1/graph/symbols?" + workspace.query + "&path=" + WorkspaceReference.escape(path),
            as: GraphSymbolsResponse.self)
    }

    public func graphSearch(workspace: WorkspaceReference, query text: String, limit: Int) async throws
        -> GraphSearchResponse
    {
        try await get(
            "/api/v1/graph/search?" + workspace.query + "&q=" + WorkspaceReference.escape(text) + "&limit=\(limit)",
            as: GraphSearchResponse.self)
    }

    public func graphInvalidations(workspace: WorkspaceReference, since: Int64, limit: Int) async throws
        -> InvalidationsResponse
    {
        try await get(
            "/api/v1/graph/invalidations?" + workspace.query + "&since=\(since)&limit=\(limit)",
            as: InvalidationsResponse.self)
    }
}
