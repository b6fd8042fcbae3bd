import DeltaTestSupport

/// The fixture bundles in `Tests/Fixtures/context-engine/`.
enum Fixtures {
    static var directory: String { FixtureFiles.directory }

    static func path(_ name: String) -> String { FixtureFiles.path(name) }
}
