import Crypto
import DeltaCore
import Foundation
import HTTPTypes
import Hummingbird
import MultipartKit
import NIOCore

/// Streams a `multipart/form-data` upload to disk: the `bundle` part goes to a temporary file
/// (hashed with SHA-256 on the way), the other parts are small form fields. Nothing is held
/// whole in memory, and the size cap is enforced on the bytes as they arrive: a declared
/// `Content-Length` over the cap is refused before reading, a chunked body at the cap.
struct UploadReceiver {
    let limits: BundleLimits
    let temporaryDirectory: String
    let deadline: Duration
    let counters: ServerCounters
    let space: SpaceGuard

    /// Room for the form fields and multipart framing around the bundle.
    static let formOverhead: Int64 = 1 << 20
    static let maxFieldBytes = 64 * 1024
    /// Form fields are a handful of short values; more, or more bytes, is not a client of ours.
    static let maxFields = 64
    static let maxTotalFieldBytes = 256 * 1024
    /// How often (in bytes written) free space is checked again while the body streams in.
    static let spaceCheckInterval: Int64 = 8 << 20

    struct Received {
        var fields: [String: String]
        var bundlePath: String
        var bundleSHA256: String
        var bundleSize: Int64
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
        do {
            return try await stream(request, boundary: boundary, to: path, cap: cap, admit: admit)
        } catch {
            unlink(path)
            throw error
        }
    }

    private func stream(
        _ request: Request, boundary: String, to path: String, cap: Int64,
        admit: ([String: String]) async throws -> Void
    ) async throws -> Received {
        let file = try RawFile.create(path, mode: 0o600, exclusive: true)
        let state = MultipartState()
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { name, value in state.header(name, value) }
        parser.onBody = { buffer in state.body(&buffer) }
        parser.onPartComplete = { state.complete() }
        let start = ContinuousClock.now
        var total: Int64 = 0
        var hasher = SHA256()
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
            }
            if total - checkedAt >= Self.spaceCheckInterval {
                checkedAt = total
                try space.check(adding: 0)
                file.startWriteback()
            }
            if state.pending.readableBytes > 0 {
                bundleSize += Int64(state.pending.readableBytes)
                if bundleSize > limits.maxCompressedBytes { throw UploadRejection(error: tooLarge(), bodyUnread: true) }
                try state.pending.withUnsafeReadableBytes { raw in
                    hasher.update(bufferPointer: raw)
                    try file.write(raw)
                }
                state.pending.clear()
            }
        }
        if !admitted { try await runAdmit(admit, state.fields) }
        guard state.sawBundle else {
            throw DeltaError(.invalidRequest, "multipart field 'bundle' (the .tar.gz file) is missing")
        }
        guard state.bundleComplete else {
            throw DeltaError(.invalidRequest, "multipart body ended before the 'bundle' part was complete")
        }
        return Received(
            fields: state.fields, bundlePath: path, bundleSHA256: hasher.finalize().hexString, bundleSize: bundleSize
        )
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
            pending.writeBuffer(&buffer)
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
