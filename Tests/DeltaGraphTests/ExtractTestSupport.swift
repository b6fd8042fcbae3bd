import DeltaGraph

/// Helpers for the extractor tests.
enum ExtractTestSupport {
    static func facts(_ path: String, _ source: String) -> FileFacts? {
        Extractor.extract(path: path, contents: Array(source.utf8))
    }

    static func specifiers(_ facts: FileFacts?) -> [String] {
        facts?.imports.map(\.specifier) ?? []
    }

    static func symbol(_ facts: FileFacts?, _ name: String) -> Symbol? {
        facts?.symbols.first { $0.name == name }
    }

    static func names(_ facts: FileFacts?) -> [String] {
        facts?.symbols.map(\.name) ?? []
    }
}
