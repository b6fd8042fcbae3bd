/// The incrementally maintained code graph of a workspace (DESIGN §5): files and the symbols
/// they define, resolved imports, interface fingerprints for early cutoff. Not built yet; the
/// target exists so the package layout and dependency direction are fixed from the start.
public enum DeltaGraph {
    /// Version of the graph's data model, bumped when extraction changes.
    public static let modelVersion = 0
}
