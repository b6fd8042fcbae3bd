import Crypto
import DeltaCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Streams a `multipart/form-data` upload to disk, the `bundle` part named on the way (a
/// compressed one by its SHA-256, an uncompressed one by `BundleRecipe.Identity`); the other
/// parts are small form fields. A compressed bundle goes to a temporary file, read once it is
/// whole. An uncompressed one is read as it arrives (`BundleStreamReader`): its files are
/// spooled and checked, and what is kept of the bundle (a `BundleRecipe`) is written, without
/// the upload ever being spooled whole. Nothing is held whole in memory, and the size
/// cap is enforced on the bytes as they arrive: a declared `Content-Length` over the cap is
/// refused before reading, a chunked body at the cap.
struct UploadReceiver {
    let limits: BundleLimits
    let temporaryDirectory: String
    let deadline: Duration
    let counters: ServerCounters
    let space: SpaceGuard
    let failpoints: Failpoints

    /// Room for the form fields and multipart framing around the bundle.
    static let formOverhead: Int64 = 1 << 20
    static let maxFieldBytes = 64 * 1024
    /// Form fields are a handful of short values; more, or more bytes, is not a client of ours.
    static let maxFields = 64
    static let maxTotalFieldBytes = 256 * 1024
    /// How often (in bytes written) free space is checked again while the body streams in.
    static let spaceCheckInterval: Int64 = 8 << 20

    /// Bundle bytes handed to the stream reader at a time (one hop to the blocking pool each).
    static let feedBytes = 256 * 1024

    struct Received {
        var fields: [String: String]
        /// The spooled upload of a compressed bundle; nothing is there for a streamed one.
        var bundlePath: String
        /// What names the bundle: see `BundleSink.identity()`.
        var bundleSHA256: String
        var bundleSize: Int64
        /// An uncompressed bundle, read and checked as it arrived.
        var streamed: StreamedBundle?

        /// Removes what the upload left in the temporary directory: for a request that ends
        /// before its apply took the files over.
        func discard() {
            unlink(bundlePath)
            if let streamed {
                streamed.bundle.discard()
                unlink(streamed.recipePath)
            }
        }
    }

    /// Streams the body to disk. `admit` is called once with the fields read so far, when the
    /// `bundle` part begins and before any of its bytes are written (or at the end of a body
    /// without one): the caller authenticates there, so an unauthorised upload costs at most the
    /// capped form fields, never a spooled bundle.
    func receive(
        _ request: Request, context: DeltaRequestContext, admit: ([String: String]) async throws -> Void
    ) async throws -> Received {
        guard let contentType = request.headers[.contentType], let boundary = Self.boundary(contentType) else {
            throw UploadRejection(
                error: DeltaError(
                    .unsupportedMediaType,
                    "upload must be multipart/form-data with a boundary (field 'bundle' holds the .tar.gz)"
                ),
                bodyUnread: true
            )
        }
        let cap = limits.maxCompressedBytes + Self.formOverhead
        if let length = request.headers[.contentLength].flatMap({ Int64($0) }), length > cap {
            throw UploadRejection(error: tooLarge(), bodyUnread: true)
        }
        try space.check(adding: request.headers[.contentLength].flatMap { Int64($0) } ?? 0)
        context.sendContinueIfExpected(request)
        let path = temporaryDirectory + "/upload-" + UUID().uuidString.lowercased()
        let sink = BundleSink(
            failpoints: failpoints, spoolPath: path,
            recipePath: temporaryDirectory + "/recipe-" + UUID().uuidString.lowercased(),
            reader: BundleStreamReader(
                limits: limits, temporaryDirectory: temporaryDirectory,
                // Free space is checked below as the body arrives: here that is every byte.
                progress: { [counters] bytes in counters.setInflated(bytes) }))
        do {
            return try await stream(request, boundary: boundary, into: sink, cap: cap, admit: admit)
        } catch {
            // A batch still being written must be done before what it wrote is removed.
            await sink.settleQuietly()
            sink.discard()
            throw error
        }
    }

    private func stream(
        _ request: Request, boundary: String, into sink: BundleSink, cap: Int64,
        admit: ([String: String]) async throws -> Void
    ) async throws -> Received {
        let state = MultipartState()
        let parser = MultipartScanner(boundary: boundary)
        parser.onHeader = { name, value in state.header(name, value) }
        parser.onBody = { buffer in state.body(&buffer) }
        parser.onPartComplete = { state.complete() }
        let start = ContinuousClock.now
        var total: Int64 = 0
        var bundleSize: Int64 = 0
        var admitted = false
        var checkedAt: Int64 = 0
        for try await buffer in request.body {
            total += Int64(buffer.readableBytes)
            counters.readUploadBytes(buffer.readableBytes)
            if total > cap { throw UploadRejection(error: tooLarge(), bodyUnread: true) }
            if ContinuousClock.now - start > deadline {
                throw UploadRejection(
                    error: DeltaError(
                        .requestTimeout, "upload did not finish within \(deadline) (UPLOAD_TIMEOUT_SECS)"),
                    bodyUnread: true
                )
            }
            do {
                try parser.execute(buffer)
            } catch {
                throw UploadRejection(error: DeltaError(.invalidRequest, "malformed multipart body"), bodyUnread: true)
            }
            if let failure = state.failure { throw UploadRejection(error: failure, bodyUnread: true) }
            if state.sawBundle && !admitted {
                try await runAdmit(admit, state.fields)
                admitted = true
                sink.workspace =
                    (try? WorkspaceIdentity.resolve(
                        name: state.fields["workspace"], path: state.fields["workspace_path"]))
                    ?? ""
            }
            if total - checkedAt >= Self.spaceCheckInterval {
                checkedAt = total
                try space.check(adding: 0)
                // A compressed bundle is kept as it came: its pages go out as it arrives.
                sink.startWriteback()
            }
            if state.pending.readableBytes > 0 {
                bundleSize += Int64(state.pending.readableBytes)
                if bundleSize > limits.maxCompressedBytes { throw UploadRejection(error: tooLarge(), bodyUnread: true) }
                try await sink.take(&state.pending, complete: state.bundleComplete)
            } else if state.bundleComplete {
                try await sink.take(&state.pending, complete: true)
            }
        }
        if !admitted { try await runAdmit(admit, state.fields) }
        guard state.sawBundle else {
            throw DeltaError(.invalidRequest, "multipart field 'bundle' (the .tar.gz file) is missing")
        }
        guard state.bundleComplete else {
            throw DeltaError(.invalidRequest, "multipart body ended before the 'bundle' part was complete")
        }
        let streamed = try await sink.finish()
        return Received(
            fields: state.fields, bundlePath: sink.spoolPath, bundleSHA256: sink.identity(), bundleSize: bundleSize,
            streamed: streamed)
    }

    /// Runs `admit`; its rejection leaves the rest of the body unread.
    private func runAdmit(_ admit: ([String: String]) async throws -> Void, _ fields: [String: String]) async throws {
        do {
            try await admit(fields)
        } catch let error as DeltaError {
            throw UploadRejection(error: error, bodyUnread: true)
        }
    }

    private func tooLarge() -> DeltaError {
        DeltaError(
            .bundleTooLarge, "upload exceeds the limit of \(limits.maxCompressedBytes) bytes (MAX_BUNDLE_SIZE_MB)",
            details: ["limit_bytes": .int(limits.maxCompressedBytes)]
        )
    }

    /// The `boundary` parameter of a `multipart/form-data` content type.
    static func boundary(_ contentType: String) -> String? {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.first?.lowercased() == "multipart/form-data" else { return nil }
        for part in parts.dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1)
            if pair.count == 2, pair[0].lowercased() == "boundary" {
                let value = pair[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
                return value.isEmpty || value.utf8.count > 200 ? nil : value
            }
        }
        return nil
    }
}

/// What the multipart callbacks collect between two `execute` calls (they cannot throw).
private final class MultipartState {
    var fields: [String: String] = [:]
    var pending = ByteBuffer()
    var sawBundle = false
    var bundleComplete = false
    var failure: DeltaError?
    private var partName: String?
    private var isBundle = false
    private var fieldBytes: [UInt8] = []
    private var fieldCount = 0
    private var totalFieldBytes = 0

    func header(_ name: String, _ value: String) {
        guard name.lowercased() == "content-disposition" else { return }
        partName = Self.parameter("name", in: value)
        isBundle = partName == "bundle"
        if !isBundle {
            fieldCount += 1
            if fieldCount > UploadReceiver.maxFields {
                failure = DeltaError(.invalidRequest, "upload has more than \(UploadReceiver.maxFields) form fields")
            }
        }
        if isBundle {
            if sawBundle { failure = DeltaError(.invalidRequest, "multipart field 'bundle' appears twice") }
            sawBundle = true
        }
    }

    func body(_ buffer: inout ByteBuffer) {
        if isBundle {
            if pending.readableBytes == 0 {
                // A slice of the bytes as they arrived: not copied on the way to the sink.
                pending = buffer
                buffer.moveReaderIndex(to: buffer.writerIndex)
            } else {
                pending.writeBuffer(&buffer)
            }
        } else if partName != nil {
            guard failure == nil else { return }
            fieldBytes.append(contentsOf: buffer.readableBytesView)
            totalFieldBytes += buffer.readableBytes
            if fieldBytes.count > UploadReceiver.maxFieldBytes {
                failure = DeltaError(
                    .invalidRequest,
                    "form field '\(PathRules.printable(String((partName ?? "").prefix(64))))' is larger than 64 KiB")
            } else if totalFieldBytes > UploadReceiver.maxTotalFieldBytes {
                failure = DeltaError(.invalidRequest, "upload form fields exceed 256 KiB in total")
            }
        }
    }

    func complete() {
        if isBundle {
            bundleComplete = true
        } else if let partName {
            fields[partName] = String(decoding: fieldBytes, as: UTF8.self)
        }
        partName = nil
        isBundle = false
        fieldBytes.removeAll(keepingCapacity: true)
    }

    static func parameter(_ key: String, in header: String) -> String? {
        for piece in header.split(separator: ";") {
            let pair = piece.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == key else { continue }
            return pair[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return nil
    }
}

/// An uncompressed bundle read as it arrived, and where its recipe was written.
struct StreamedBundle: Sendable {
    var bundle: ValidatedBundle
    var recipePath: String
}

/// Where the bytes of the `bundle` part go. Until a block's worth has arrived (its format is
/// told by its first bytes) they wait here; then a compressed bundle goes to the spool file, an
/// uncompressed one to the stream reader and the recipe, a few hundred KiB at a time on the
/// blocking pool, while the next batch is read, parsed and hashed (its files are written there,
/// and the two took turns on one upload's bytes before).
///
/// A bundle found invalid part-way is refused once the body has been read, as one read whole
/// before it is checked would be: the rest is counted against the size cap and dropped, and
/// what was spooled is removed at once.
private final class BundleSink: @unchecked Sendable {
    let failpoints: Failpoints
    /// The workspace named by the fields before the bundle (for the failpoints), else empty.
    var workspace = ""
    let spoolPath: String
    let recipePath: String
    let reader: BundleStreamReader
    private var format: BundleFormat?
    private var spool: RawFile?
    private var recipe: BundleRecipe.Builder?
    /// The SHA-256 of a compressed bundle, as it is spooled.
    private var spoolHasher = SHA256()
    private var waiting = ByteBuffer()
    /// Why the bundle is refused, once known.
    private var failure: DeltaError?
    /// The batch being fed to the stream reader on the blocking pool while the next one is
    /// read, parsed and hashed: one at a time, in order.
    private var feeding: Task<Void, any Error>?
    /// Whether bytes have gone to the stream reader.
    private var fed = false
    /// The bundle, checked whole, when its last batch was fed and finished in one go.
    private var finished: ValidatedBundle?

    init(failpoints: Failpoints, spoolPath: String, recipePath: String, reader: BundleStreamReader) {
        self.failpoints = failpoints
        self.spoolPath = spoolPath
        self.recipePath = recipePath
        self.reader = reader
    }

    /// Takes the bytes in `bytes` (leaving it empty); `complete` when the part has ended.
    func take(_ bytes: inout ByteBuffer, complete: Bool) async throws {
        guard failure == nil else {
            bytes.clear()
            return
        }
        do {
            try await write(&bytes, complete: complete)
        } catch let error as DeltaError where error.code != .io {
            await refuse(error)
        }
    }

    /// Remembers why the bundle is refused, and removes what it wrote once the batch being
    /// written is done.
    private func refuse(_ error: DeltaError) async {
        failure = error
        waiting = ByteBuffer()
        await settleQuietly()
        discard()
    }

    /// Waits for the batch being fed; its failure is thrown here.
    private func settle() async throws {
        guard let feeding else { return }
        self.feeding = nil
        try await feeding.value
    }

    /// Waits for the batch being fed, whatever it comes to (before what it wrote is removed).
    func settleQuietly() async { _ = try? await settle() }

    private func write(_ bytes: inout ByteBuffer, complete: Bool) async throws {
        waiting.writeBuffer(&bytes)
        bytes.clear()
        if format == nil {
            guard waiting.readableBytes >= TarHeader.blockSize || complete else { return }
            let detected = try waiting.withUnsafeReadableBytes { raw in
                try BundleFormat.detect(UnsafeRawBufferPointer(rebasing: raw.prefix(TarHeader.blockSize)))
            }
            format = detected
            if detected == .tarGz {
                spool = try RawFile.create(spoolPath, mode: 0o600, exclusive: true)
            } else {
                recipe = try BundleRecipe.Builder(path: recipePath)
            }
        }
        if let spool {
            try waiting.withUnsafeReadableBytes { raw in
                spoolHasher.update(bufferPointer: raw)
                try spool.write(raw)
            }
            waiting.clear()
        } else if let recipe, waiting.readableBytes >= UploadReceiver.feedBytes || complete {
            let batch = waiting
            waiting = ByteBuffer()
            try await settle()
            let reader = self.reader
            let (failpoints, workspace, first) = (self.failpoints, self.workspace, !fed)
            fed = true
            let feed: @Sendable () throws -> Void = {
                // As for a compressed bundle: the point is reached as validation begins.
                if first { failpoints.reachBlocking(.duringValidate, workspace: workspace) }
                try batch.withUnsafeReadableBytes { raw in
                    try reader.feed(raw, literal: recipe.literal, content: recipe.content)
                }
            }
            if complete {
                // The last batch (a save's only one): nothing more to read meanwhile, and no
                // task to schedule on a save's way to the server. The bundle is finished in the
                // same trip to the blocking pool (one hop less of a save's path).
                finished = try await Blocking.run {
                    try feed()
                    let bundle = try reader.finish()
                    try recipe.finish()
                    return bundle
                }
            } else {
                feeding = Task { try await Blocking.run(feed) }
            }
        }
    }

    func startWriteback() { spool?.startWriteback() }

    /// What names the bundle, once `finish()` has returned: a compressed one's SHA-256, an
    /// uncompressed one's `BundleRecipe.Identity` (its files' bytes were hashed for their blobs).
    func identity() -> String { recipe?.identity ?? spoolHasher.finalize().hexString }

    /// The streamed bundle, checked whole, with its recipe written (nil for a compressed one).
    func finish() async throws -> StreamedBundle? {
        if failure == nil {
            do {
                try await settle()
            } catch let error as DeltaError where error.code != .io {
                await refuse(error)
            }
        }
        if let failure { throw failure }
        guard let recipe else { return nil }
        if let finished { return StreamedBundle(bundle: finished, recipePath: recipePath) }
        let reader = self.reader
        let bundle = try await Blocking.run {
            let bundle = try reader.finish()
            try recipe.finish()
            return bundle
        }
        return StreamedBundle(bundle: bundle, recipePath: recipePath)
    }

    /// Removes everything written so far (after an error).
    func discard() {
        unlink(spoolPath)
        unlink(recipePath)
        reader.discard()
    }
}
