import DeltaCore
@testable import DeltaServer
import DeltaTestSupport
import Foundation
import Testing

/// A descriptor is closed once, by its owner. A class whose `init` closed its descriptor and then
/// threw, with the descriptor already stored, closed it again in `deinit`: by then the number could
/// be another thread's. In the test process a refused second server lock closed a directory
/// descriptor of another test's server, whose copy then linked files into the wrong directory
/// (files in its manifest missing from its copy, and a watcher's file replaced by another test's).
///
/// Closing a closed descriptor fails with `EBADF`, which it leaves in `errno`: a refusal that
/// closes its descriptor once leaves the error of the call that failed instead. (Another thread
/// could reopen the number between the two closes; then nothing fails and the wrong file is
/// closed. That race is what the fix removes, and what this check does not need.)
@Suite struct DescriptorOwnershipTests {
    /// Whether `refused` closed a descriptor that was closed already.
    static func closesTwice(_ refused: () -> Void) -> Bool {
        errno = 0
        refused()
        return errno == EBADF
    }

    @Test func aRefusedServerLockClosesItsDescriptorOnce() throws {
        try withTemporaryDirectorySync("lock-owner") { directory in
            let held = try WorkDirectory.Lock(directory, purpose: "held")
            defer { held.release() }
            let twice = Self.closesTwice {
                #expect(throws: DeltaError.self) { _ = try WorkDirectory.Lock(directory, purpose: "refused") }
            }
            #expect(!twice, "a refused lock closed its descriptor twice")
        }
    }

    @Test func aRefusedTestConnectionClosesItsDescriptorOnce() throws {
        let port = try FreePort.pick()
        let twice = Self.closesTwice {
            #expect(throws: (any Error).self) { _ = try RawHTTPConnection(port: port) }
        }
        #expect(!twice, "a refused connection closed its descriptor twice")
    }
}
