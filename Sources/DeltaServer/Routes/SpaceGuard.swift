import DeltaCore
import Glibc

/// Keeps uploads from filling the disk under `WORK_DIR`: before an upload is spooled, and again
/// every few megabytes while its body arrives and while its bundle is unpacked, the free space of
/// the filesystem must stay above `floorBytes`; otherwise the upload is refused with
/// `507 INSUFFICIENT_STORAGE` and its spool files are removed (nothing committed changes).
struct SpaceGuard: Sendable {
    let directory: String
    let floorBytes: Int64

    /// Free bytes for unprivileged writers, or `nil` when the filesystem cannot say.
    func freeBytes() -> Int64? {
        var info = statvfs()
        guard statvfs(directory, &info) == 0 else { return nil }
        let (product, overflow) = Int64(clamping: info.f_bavail).multipliedReportingOverflow(
            by: Int64(clamping: info.f_frsize))
        return overflow ? Int64.max : product
    }

    /// Throws `INSUFFICIENT_STORAGE` when writing `bytes` more would leave less than the floor.
    func check(adding bytes: Int64) throws {
        guard floorBytes > 0, let free = freeBytes() else { return }
        let wanted = max(0, bytes)
        if free < floorBytes || free - floorBytes < wanted {
            throw DeltaError(
                .insufficientStorage,
                "the server is low on disk space; try again later (free space is kept above "
                    + "\(floorBytes >> 20) MiB, --min-free-mb)",
                retryAfter: 60
            )
        }
    }
}
