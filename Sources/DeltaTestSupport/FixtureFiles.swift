import Foundation

/// The real bundles an existing client produced, with the tree expected after both, kept in the
/// repository (`Tests/Fixtures/context-engine/`) so a plain clone passes `swift test`.
public enum FixtureFiles {
    public static let directory: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }  // Sources/DeltaTestSupport/FixtureFiles.swift → repo
        return url.appendingPathComponent("Tests/Fixtures/context-engine").path
    }()

    public static func path(_ name: String) -> String { directory + "/" + name }
}
