/// An upload whose body has been received: the form fields and the spooled compressed bundle.
struct UploadRequest: Sendable {
    var workspace: String
    var workspacePath: String?
    var collectionName: String?
    var sequenceNumber: Int64?
    var force: Bool
    /// The compressed bundle, spooled to a temporary file.
    var bundlePath: String
    var bundleSHA256: String
    var bundleSize: Int64
}
