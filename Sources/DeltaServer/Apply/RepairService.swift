import ServiceLifecycle

/// Retries the repair of degraded workspaces every `interval` while the server runs; stops at
/// once on graceful shutdown (its sleep is cancelled, not waited out).
struct RepairService: Service {
    let applier: BundleApplier
    let interval: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    return
                }
                if !applier.degraded.all.isEmpty { await applier.retryDegraded() }
            }
        }
    }
}
