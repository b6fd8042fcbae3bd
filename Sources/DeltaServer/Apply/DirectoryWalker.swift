import DeltaCore
import Glibc

/// Walks the materialised copy one directory component at a time with `O_NOFOLLOW`, keeping only
/// the chain of directories down to the current one open.
///
/// Bundles are applied in path order, so consecutive paths share most of their directories: the
/// walker keeps the open chain (`stack`) and moves along it. The number of open descriptors is
/// bounded by depth, never by how many directories a bundle touches, and past
/// `maxOpenDepth` only the deepest directory keeps its descriptor (an ancestor is reopened
/// through `..` when the walk climbs back), so even a path 2,000 levels deep needs a handful.
struct DirectoryWalker {
    /// Directories this deep keep their descriptors; deeper ones only while they are the deepest.
    static let maxOpenDepth = 32

    let root: String
    private let rootFD: Int32
    private var stack: [(name: String, fd: Int32?)] = []

    init(root: String) throws {
        self.root = root
        rootFD = Glibc.open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard rootFD >= 0 else { throw DeltaError.posix("open", root) }
    }

    /// Open descriptors held now (for tests of the bound).
    var openDescriptorCount: Int { 1 + stack.count { $0.fd != nil } }

    /// The descriptor of directory `relative` ("" is the root); creates missing directories and
    /// replaces a file or link standing where a directory must be when `create` is set. The
    /// descriptor stays valid until the next call.
    mutating func open(_ relative: String, create: Bool) throws -> Int32 {
        let components = PathRules.components(of: relative)
        var common = 0
        while common < stack.count, common < components.count, stack[common].name.bytesEqual(components[common]) {
            common += 1
        }
        try truncate(to: common)
        for name in components[common...] {
            let parent = stack.last?.fd ?? rootFD
            var fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd < 0 && create {
                if errno == ENOTDIR || errno == ELOOP {
                    unlinkat(parent, name, 0)
                }
                if mkdirat(parent, name, 0o755) != 0 && errno != EEXIST {
                    throw DeltaError.posix("mkdir", describe(components, upTo: stack.count))
                }
                fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            guard fd >= 0 else { throw DeltaError.posix("open", describe(components, upTo: stack.count)) }
            push(name, fd)
        }
        return stack.last?.fd ?? rootFD
    }

    /// Removes file `relative` if present and prunes the directories it leaves empty.
    mutating func remove(_ relative: String) throws {
        let (parentPath, name) = PathRules.split(relative)
        guard let parent = try? open(parentPath, create: false) else { return }
        if unlinkat(parent, name, 0) != 0 {
            if errno == EISDIR { FileSystem.removeTree(parent: parent, name: name) }
            return
        }
        while let deepest = stack.last {
            try truncate(to: stack.count - 1)
            guard unlinkat(stack.last?.fd ?? rootFD, deepest.name, AT_REMOVEDIR) == 0 else { return }
        }
    }

    mutating func closeAll() {
        for entry in stack { if let fd = entry.fd { close(fd) } }
        stack.removeAll()
        close(rootFD)
    }

    // MARK: - The open chain

    private mutating func push(_ name: String, _ fd: Int32) {
        // Past the bound only the deepest directory keeps its descriptor.
        if stack.count > Self.maxOpenDepth, let previous = stack.last?.fd {
            close(previous)
            stack[stack.count - 1].fd = nil
        }
        stack.append((name, fd))
    }

    /// Pops to `count` entries, reopening a closed ancestor through `..` of its child.
    private mutating func truncate(to count: Int) throws {
        while stack.count > count {
            let child = stack.removeLast()
            guard let childFD = child.fd else { continue }
            defer { close(childFD) }
            if let last = stack.indices.last, stack[last].fd == nil {
                let fd = openat(childFD, "..", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard fd >= 0 else { throw DeltaError.posix("open", root + "/…/..") }
                stack[last].fd = fd
            }
        }
    }

    private func describe(_ components: [String], upTo count: Int) -> String {
        ([root] + components.prefix(count + 1)).joined(separator: "/")
    }
}
