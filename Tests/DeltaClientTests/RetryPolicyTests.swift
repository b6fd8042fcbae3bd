@testable import DeltaClient
import DeltaCore
import Synchronization
import Testing

@Suite struct RetryPolicyTests {
    @Test func retriesOnlyWhatMayGoAway() {
        #expect(RetryPolicy.isRetryable(DeltaError(.network, "down")))
        #expect(RetryPolicy.isRetryable(DeltaError(.internalError, "x", httpStatus: 503)))
        #expect(RetryPolicy.isRetryable(DeltaError(.rateLimited, "x", httpStatus: 429)))
        #expect(!RetryPolicy.isRetryable(DeltaError(.hashMismatch, "x", httpStatus: 422)))
        #expect(!RetryPolicy.isRetryable(DeltaError(.unauthorized, "x", httpStatus: 401)))
    }

    @Test func fullJitterStaysUnderTheCapAndRetryAfterWins() {
        let policy = RetryPolicy(maxRetries: 10, baseDelay: .milliseconds(100), maxDelay: .seconds(2))
        for attempt in 0..<12 {
            let delay = policy.delay(attempt: attempt, retryAfter: nil)
            #expect(delay >= .zero && delay <= .seconds(2))
        }
        #expect(policy.delay(attempt: 0, retryAfter: 3) == .seconds(3))
    }

    @Test func stopsAtOnceOnAPermanentErrorAndGivesUpAfterMaxRetries() async throws {
        let calls = Atomic<Int>(0)
        let policy = RetryPolicy(maxRetries: 3, baseDelay: .milliseconds(1), maxDelay: .milliseconds(2))
        await #expect(throws: DeltaError.self) {
            try await policy.run { () async throws -> Int in
                calls.add(1, ordering: .relaxed)
                throw DeltaError(.invalidRequest, "bad", httpStatus: 400)
            }
        }
        #expect(calls.load(ordering: .relaxed) == 1)
        calls.store(0, ordering: .relaxed)
        await #expect(throws: DeltaError.self) {
            try await policy.run { () async throws -> Int in
                calls.add(1, ordering: .relaxed)
                throw DeltaError(.network, "down")
            }
        }
        #expect(calls.load(ordering: .relaxed) == 4)
    }
}
