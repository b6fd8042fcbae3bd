import Foundation

/// The fixture bundles in `../shared/fixtures/context-engine/` (beside the project).
enum Fixtures {
    static let directory: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Tests/DeltaCoreTests/Fixtures.swift → repo
        return url.deletingLastPathComponent().appendingPathComponent("shared/fixtures/context-engine").path
    }()

    static func path(_ name: String) -> String { directory + "/" + name }
}
