public import DeltaCore

/// Exponential backoff with full jitter and a cap, honouring `Retry-After`: network errors,
/// timeouts, 429 and 5xx are retried; any other error stops at once.
public struct RetryPolicy: Sendable {
    public var maxRetries: Int
    public var baseDelay: Duration
    public var maxDelay: Duration

    public init(maxRetries: Int = 5, baseDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(10)) {
        self.maxRetries = maxRetries
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// Runs `operation`, retrying retryable failures. `onRetry` hears each failure and the wait.
    public func run<T: Sendable>(
        onRetry: @Sendable (DeltaError, Int, Duration) -> Void = { _, _, _ in },
        _ operation: @Sendable () async throws -> T
    ) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await operation()
            } catch let error as DeltaError where Self.isRetryable(error) && attempt < maxRetries {
                let wait = delay(attempt: attempt, retryAfter: error.retryAfter)
                attempt += 1
                onRetry(error, attempt, wait)
                try await Task.sleep(for: wait)
            }
        }
    }

    /// Full jitter: uniform in [0, min(cap, base·2^attempt)]; `Retry-After` wins when given.
    func delay(attempt: Int, retryAfter: Int64?) -> Duration {
        if let retryAfter, retryAfter >= 0 { return min(.seconds(retryAfter), maxDelay * 6) }
        let ceiling = min(maxDelay, baseDelay * (1 << min(attempt, 20)))
        let nanoseconds = Double(ceiling.components.seconds) * 1e9 + Double(ceiling.components.attoseconds) / 1e9
        return .nanoseconds(Int64(Double.random(in: 0...max(nanoseconds, 1))))
    }

    public static func isRetryable(_ error: DeltaError) -> Bool {
        if error.code == .network || error.code == .rateLimited || error.code == .requestTimeout { return true }
        if let status = error.httpStatus { return status == 429 || status >= 500 }
        return false
    }
}
