/// An upload whose body has been received: the form fields and the spooled compressed bundle,
/// or the uncompressed bundle read as it arrived.
struct UploadRequest: Sendable {
    var workspace: String
    var workspacePath: String?
    var collectionName: String?
    var sequenceNumber: Int64?
    var force: Bool
    /// The compressed bundle, spooled to a temporary file (nothing is there when `streamed`).
    var bundlePath: String
    /// What names the bundle: a compressed one's SHA-256, an uncompressed one's
    /// `BundleRecipe.Identity`.
    var bundleSHA256: String
    var bundleSize: Int64
    /// `previous_bundle_id`: the bundle that must hold the sequence before this one (a client
    /// keeping two uploads in flight); otherwise the upload is refused as a sequence mismatch.
    var previousBundleID: String? = nil
    /// Its place among the uploads in flight to the workspace, when it asked for a sequence.
    var ticket: UploadOrder.Ticket? = nil
    /// An uncompressed bundle, already read and checked, and its recipe.
    var streamed: StreamedBundle? = nil
    /// When its request began (the log's `ms.receive`: the body's arrival and reading).
    var arrived: ContinuousClock.Instant = .now
}
