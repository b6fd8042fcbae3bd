public import DeltaCore
public import DeltaGraph
import Foundation
import GRDB

extension SQLiteStorage {
    public func graphFiles(workspace: String) async throws -> PersistedGraph? {
        try await pool.read { db in
            guard
                let version = try Int.fetchOne(
                    db, sql: "SELECT model_version FROM graph_workspace WHERE workspace = ?", arguments: [workspace])
            else { return nil }
            let indexed =
                try Int64.fetchOne(db, sql: "SELECT indexed_sequence FROM workspace WHERE key = ?", arguments: [workspace])
                ?? 0
            let decoder = JSONDecoder()
            var files: [(path: String, facts: FileFacts)] = []
            let rows = try Row.fetchCursor(
                db, sql: "SELECT path, language, fingerprint, package, imports FROM graph_file WHERE workspace = ?",
                arguments: [workspace])
            while let row = try rows.next() {
                guard let language = Language(rawValue: row["language"]) else { continue }
                let imports = try decoder.decode([ImportSpec].self, from: row["imports"] as Data)
                files.append(
                    (
                        row["path"],
                        FileFacts(
                            language: language, imports: imports, symbols: [], fingerprint: row["fingerprint"],
                            package: row["package"])
                    ))
            }
            return PersistedGraph(modelVersion: version, indexedSequence: indexed, files: files)
        }
    }

    public func commitGraph(_ commit: GraphCommit) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let record = try commit.record.map { try encoder.encode($0) }
        try await pool.write { db in
            let key = commit.workspace
            if commit.reset {
                for table in ["graph_file", "graph_symbol", "graph_record"] {
                    try db.execute(sql: "DELETE FROM \(table) WHERE workspace = ?", arguments: [key])
                }
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO graph_workspace (workspace, model_version) VALUES (?, ?)",
                arguments: [key, commit.modelVersion])
            let deleteFile = try db.cachedStatement(sql: "DELETE FROM graph_file WHERE workspace = ? AND path = ?")
            let deleteSymbols = try db.cachedStatement(
                sql: "DELETE FROM graph_symbol WHERE workspace = ? AND path = ?")
            for path in commit.deletes + (commit.reset ? [] : commit.upserts.map(\.path)) {
                try deleteFile.execute(arguments: [key, path])
                try deleteSymbols.execute(arguments: [key, path])
            }
            let insertFile = try db.cachedStatement(
                sql: """
                    INSERT INTO graph_file (workspace, path, language, fingerprint, package, imports)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """)
            let insertSymbol = try db.cachedStatement(
                sql: """
                    INSERT INTO graph_symbol (workspace, path, name, kind, line, signature, exported)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    """)
            for (path, facts) in commit.upserts {
                try insertFile.execute(arguments: [
                    key, path, facts.language.rawValue, facts.fingerprint, facts.package,
                    try encoder.encode(facts.imports),
                ])
                for symbol in facts.symbols {
                    try insertSymbol.execute(arguments: [
                        key, path, symbol.name, symbol.kind, symbol.line, symbol.signature, symbol.exported,
                    ])
                }
            }
            if let record, let sequence = commit.record?.toSequence {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO graph_record (workspace, to_sequence, body) VALUES (?, ?, ?)",
                    arguments: [key, sequence, record])
            }
            if let indexed = commit.indexedSequence {
                try db.execute(
                    sql: "UPDATE workspace SET indexed_sequence = ? WHERE key = ?", arguments: [indexed, key])
            }
        }
    }

    public func symbols(workspace: String, paths: [String]) async throws -> [String: [Symbol]] {
        try await pool.read { db in
            var result: [String: [Symbol]] = [:]
            let statement = try db.cachedStatement(
                sql: """
                    SELECT name, kind, line, signature, exported FROM graph_symbol
                    WHERE workspace = ? AND path = ? ORDER BY line, name
                    """)
            for path in paths {
                let rows = try Row.fetchAll(statement, arguments: [workspace, path])
                guard !rows.isEmpty else { continue }
                result[path] = rows.map { row in
                    Symbol(
                        name: row["name"], kind: row["kind"], line: row["line"], signature: row["signature"],
                        exported: row["exported"])
                }
            }
            return result
        }
    }

    public func searchSymbols(workspace: String, query: String, limit: Int) async throws -> [GraphSearchResult] {
        let escaped = query.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%")
            .replacingOccurrences(of: "_", with: "\\_")
        return try await pool.read { db in
            var results: [GraphSearchResult] = []
            var seen = Set<String>()
            let passes: [(match: String, sql: String, argument: String)] = [
                ("exact", "name = ? COLLATE NOCASE", query),
                ("prefix", "name LIKE ? ESCAPE '\\'", escaped + "%"),
                ("substring", "name LIKE ? ESCAPE '\\'", "%" + escaped + "%"),
            ]
            for pass in passes where results.count < limit {
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT name, kind, path, line FROM graph_symbol WHERE workspace = ? AND \(pass.sql)
                        ORDER BY length(name), name, path, line LIMIT ?
                        """,
                    arguments: [workspace, pass.argument, limit * 2])
                for row in rows where results.count < limit {
                    let name: String = row["name"]
                    let path: String = row["path"]
                    let line: Int = row["line"]
                    guard seen.insert("\(path)\u{0}\(line)\u{0}\(name)").inserted else { continue }
                    results.append(
                        GraphSearchResult(name: name, kind: row["kind"], path: path, line: line, match: pass.match))
                }
            }
            return results
        }
    }

    public func invalidations(workspace: String, since: Int64, limit: Int) async throws -> [InvalidationRecord] {
        try await pool.read { db in
            let decoder = JSONDecoder()
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT body FROM graph_record WHERE workspace = ? AND to_sequence > ?
                    ORDER BY to_sequence LIMIT ?
                    """,
                arguments: [workspace, since, limit]
            ).map { try decoder.decode(InvalidationRecord.self, from: $0["body"] as Data) }
        }
    }
}
