/// How the client names its workspace to the server: an explicit name, or its absolute path
/// (from which the server derives a key).
public struct WorkspaceReference: Sendable, Hashable {
    public var name: String?
    public var path: String

    public init(name: String?, path: String) {
        self.name = name
        self.path = path
    }

    /// Query items for GET endpoints: the path always (a compatible-core server knows workspaces
    /// only by path), and the name when there is one (our server prefers it).
    var query: String {
        let byPath = "workspace_path=" + Self.escape(path)
        guard let name else { return byPath }
        return byPath + "&workspace=" + Self.escape(name)
    }

    /// Form fields for uploads.
    var fields: [(String, String)] {
        var fields = [("workspace_path", path)]
        if let name { fields.append(("workspace", name)) }
        return fields
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
