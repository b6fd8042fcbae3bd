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
                try Int64.fetchOne(
                    db, sql: "SELECT indexed_sequence FROM workspace WHERE key = ?", arguments: [workspace])
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

    /// The name index, dropped while a rebuild writes its symbols and made again (sorted, in one
    /// pass) at its end: kept up to date row by row, it cost most of a kernel tree's build.
    static let nameIndex = "CREATE INDEX IF NOT EXISTS graph_symbol_by_name ON graph_symbol(name COLLATE NOCASE)"

    public func commitGraph(_ commit: GraphCommit) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let record = try commit.record.map { try encoder.encode($0) }
        defer { checkpointer.committed(rows: commit.upserts.count + commit.deletes.count + 1) }
        try await writeDerived(cacheKiB: Self.graphCacheKiB) { db in
            let key = commit.workspace
            if commit.reset {
                if !commit.upserts.isEmpty { try db.execute(sql: "DROP INDEX IF EXISTS graph_symbol_by_name") }
                try db.execute(
                    sql: "DELETE FROM graph_symbol WHERE file IN (SELECT id FROM graph_file WHERE workspace = ?)",
                    arguments: [key])
                try db.execute(sql: "DELETE FROM graph_file WHERE workspace = ?", arguments: [key])
                try db.execute(sql: "DELETE FROM graph_record WHERE workspace = ?", arguments: [key])
            }
            try db.execute(
                sql: "INSERT OR REPLACE INTO graph_workspace (workspace, model_version) VALUES (?, ?)",
                arguments: [key, commit.modelVersion])
            let findFile = try db.cachedStatement(sql: "SELECT id FROM graph_file WHERE workspace = ? AND path = ?")
            let deleteFile = try db.cachedStatement(sql: "DELETE FROM graph_file WHERE id = ?")
            let deleteSymbols = try db.cachedStatement(sql: "DELETE FROM graph_symbol WHERE file = ?")
            for path in commit.deletes + (commit.reset ? [] : commit.upserts.map(\.path)) {
                guard let id = try Int64.fetchOne(findFile, arguments: [key, path]) else { continue }
                try deleteSymbols.execute(arguments: [id])
                try deleteFile.execute(arguments: [id])
            }
            let insertFile = try db.cachedStatement(
                sql: """
                    INSERT INTO graph_file (workspace, path, language, fingerprint, package, imports)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """)
            var rows: [(any DatabaseValueConvertible)?] = []
            rows.reserveCapacity(Self.symbolBatch * 6)
            for (path, facts) in commit.upserts {
                try insertFile.execute(arguments: [
                    key, path, facts.language.rawValue, facts.fingerprint, facts.package,
                    try encoder.encode(facts.imports),
                ])
                let file = db.lastInsertedRowID
                for symbol in facts.symbols {
                    rows += [file, symbol.line, symbol.name, symbol.kind, symbol.signature, symbol.exported]
                    if rows.count == Self.symbolBatch * 6 {
                        try Self.insertSymbols(rows, db)
                        rows.removeAll(keepingCapacity: true)
                    }
                }
            }
            if !rows.isEmpty { try Self.insertSymbols(rows, db) }
            if let record, let sequence = commit.record?.toSequence {
                try db.execute(
                    sql: "INSERT OR REPLACE INTO graph_record (workspace, to_sequence, body) VALUES (?, ?, ?)",
                    arguments: [key, sequence, record])
                try db.execute(sql: Self.nameIndex)
            }
            if let indexed = commit.indexedSequence {
                try db.execute(
                    sql: "UPDATE workspace SET indexed_sequence = ? WHERE key = ?", arguments: [indexed, key])
            }
        }
    }

    /// Symbols written per INSERT statement: a kernel tree has millions, and one statement per
    /// row cost most of a full build.
    static let symbolBatch = 200

    static func insertSymbols(_ values: [(any DatabaseValueConvertible)?], _ db: Database) throws {
        let count = values.count / 6
        let sql =
            "INSERT INTO graph_symbol (file, line, name, kind, signature, exported) VALUES "
            + Array(repeating: "(?, ?, ?, ?, ?, ?)", count: count).joined(separator: ", ")
        let statement = count == symbolBatch ? try db.cachedStatement(sql: sql) : try db.makeStatement(sql: sql)
        try statement.execute(arguments: StatementArguments(values))
    }

    public func symbols(workspace: String, paths: [String]) async throws -> [String: [Symbol]] {
        try await pool.read { db in
            var result: [String: [Symbol]] = [:]
            let statement = try db.cachedStatement(
                sql: """
                    SELECT s.name, s.kind, s.line, s.signature, s.exported
                    FROM graph_symbol s JOIN graph_file f ON f.id = s.file
                    WHERE f.workspace = ? AND f.path = ? ORDER BY s.line, s.name
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
                ("exact", "s.name = ? COLLATE NOCASE", query),
                ("prefix", "s.name LIKE ? ESCAPE '\\'", escaped + "%"),
                ("substring", "s.name LIKE ? ESCAPE '\\'", "%" + escaped + "%"),
            ]
            for pass in passes where results.count < limit {
                let rows = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT s.name, s.kind, f.path, s.line FROM graph_symbol s JOIN graph_file f ON f.id = s.file
                        WHERE f.workspace = ? AND \(pass.sql)
                        ORDER BY length(s.name), s.name, f.path, s.line LIMIT ?
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
