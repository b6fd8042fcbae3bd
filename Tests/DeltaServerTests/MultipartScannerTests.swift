@testable import DeltaServer
import Foundation
import MultipartKit
import NIOCore
import DeltaTestSupport
import Testing

/// The upload's multipart scanner against MultipartKit's parser, the oracle: for generated
/// bodies (well formed, then damaged) cut into the same pieces, both must report the same
/// headers, the same body bytes per part, the same part ends and the same failure.
@Suite struct MultipartScannerTests {
    enum Event: Equatable, CustomStringConvertible {
        case header(String, String)
        case body([UInt8])
        case complete

        var description: String {
            switch self {
            case .header(let name, let value): "header(\(name): \(value))"
            case .body(let bytes):
                "body(\(bytes.count) bytes: \(String(decoding: bytes.prefix(40), as: UTF8.self).debugDescription))"
            case .complete: "complete"
            }
        }
    }

    /// The events of one parse, consecutive body runs joined (how a body is cut into runs is
    /// not part of what a parser promises).
    final class Recorder {
        var events: [Event] = []
        var failed = false

        func header(_ name: String, _ value: String) { events.append(.header(name, value)) }

        func body(_ buffer: inout ByteBuffer) {
            let bytes = Array(buffer.readableBytesView)
            buffer.moveReaderIndex(to: buffer.writerIndex)
            guard !bytes.isEmpty else { return }
            if case .body(let before) = events.last {
                events[events.count - 1] = .body(before + bytes)
            } else {
                events.append(.body(bytes))
            }
        }

        func complete() { events.append(.complete) }
    }

    static func scan(_ chunks: [[UInt8]], boundary: String) -> Recorder {
        let scanner = MultipartScanner(boundary: boundary)
        return record(chunks) { recorder in
            scanner.onHeader = { recorder.header($0, $1) }
            scanner.onBody = { recorder.body(&$0) }
            scanner.onPartComplete = { recorder.complete() }
            return scanner.execute
        }
    }

    /// MultipartKit's parser. It traps on a header-name byte over 127, so damaged bodies for it
    /// stay within US-ASCII.
    static func oracle(_ chunks: [[UInt8]], boundary: String) -> Recorder {
        let parser = MultipartParser(boundary: boundary)
        return record(chunks) { recorder in
            parser.onHeader = { recorder.header($0, $1) }
            parser.onBody = { recorder.body(&$0) }
            parser.onPartComplete = { recorder.complete() }
            return parser.execute
        }
    }

    /// Feeds `chunks` to the parser `connect` wires to a recorder, stopping at the first error.
    private static func record(
        _ chunks: [[UInt8]], connect: (Recorder) -> (ByteBuffer) throws -> Void
    ) -> Recorder {
        let recorder = Recorder()
        let execute = connect(recorder)
        do {
            for chunk in chunks { try execute(ByteBuffer(bytes: chunk)) }
        } catch {
            recorder.failed = true
        }
        return recorder
    }

    // MARK: - Generated bodies

    struct Generated {
        var boundary: String
        var bytes: [UInt8]
        var expected: [Event]
    }

    /// A well-formed body and the events it must give: a preamble, one to four parts whose bodies
    /// are thick with line breaks, hyphens and near-delimiters, the close delimiter, an epilogue.
    static func wellFormed(_ random: inout SplitMix64) -> Generated {
        let boundaryCharacters = Array("abcXYZ0189-_'()+,./:=?")
        var boundary = String((0..<(1 + random.below(24))).map { _ in random.pick(boundaryCharacters) })
        if random.chance(10) { boundary = "-" + boundary }
        let delimiter = Array("\r\n--\(boundary)".utf8)
        var bytes = Array(random.pick(["", "\r\n", "This is a preamble.\r\n", "\r\n\r\n"]).utf8)
        bytes += Array("--\(boundary)".utf8)
        var expected: [Event] = []
        for _ in 0..<(1 + random.below(4)) {
            bytes += Array("\r\n".utf8)
            for _ in 0..<random.below(4) {
                let name = random.pick(["Content-Disposition", "Content-Type", "X-a!#$%&'*+-.^_`|~9", "a"])
                let value = random.pick([
                    "form-data; name=\"bundle\"; filename=\"b.tar\"", "application/x-tar", "", "x y\tz ", "é",
                ])
                bytes += Array(name.utf8) + [UInt8(ascii: ":")]
                bytes += Array(random.pick(["", " ", "  ", "\t", " \t "]).utf8) + Array(value.utf8)
                bytes += Array("\r\n".utf8)
                expected.append(.header(name, value))
            }
            bytes += Array("\r\n".utf8)
            let body = Self.body(&random, delimiter: delimiter)
            bytes += body
            if !body.isEmpty { expected.append(.body(body)) }
            bytes += delimiter
            expected.append(.complete)
        }
        bytes += Array("--".utf8)
        bytes += Array(random.pick(["", "\r\n", "epilogue \r\n--\(boundary)--\r\n"]).utf8)
        return Generated(boundary: boundary, bytes: bytes, expected: expected)
    }

    /// A part's body that never holds the delimiter.
    static func body(_ random: inout SplitMix64, delimiter: [UInt8]) -> [UInt8] {
        var body: [UInt8] = []
        for _ in 0..<random.below(12) {
            switch random.below(7) {
            case 0: body += (0..<random.below(300)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            case 1: body += Array(random.pick(["\r", "\n", "\r\n", "\r\n-", "\r\n--", "--", "-\r"]).utf8)
            case 2: body += delimiter.prefix(1 + random.below(delimiter.count - 1))
            case 3: body += delimiter.dropFirst(1 + random.below(delimiter.count - 1))
            case 4: body += Array("text with no line break ".utf8)
            case 5: body += delimiter.dropLast() + [UInt8(ascii: "!")]
            default: body += Array(repeating: UInt8(ascii: "\r"), count: 1 + random.below(3))
            }
        }
        // Cut at the first whole delimiter, should the pieces have made one.
        if let range = body.firstRange(of: delimiter) { body.removeSubrange(range.lowerBound...) }
        return body
    }

    /// `bytes` damaged in up to four places with bytes of the grammar (US-ASCII only: see `oracle`).
    static func damaged(_ bytes: [UInt8], _ random: inout SplitMix64, boundary: String) -> [UInt8] {
        var bytes = bytes
        let alphabet = Array("\r\n-: \tx\u{0}\u{7F}".utf8) + Array(boundary.utf8)
        for _ in 0..<random.below(5) {
            let at = random.below(bytes.count + 1)
            switch random.below(4) {
            case 0: bytes.insert(random.pick(alphabet), at: at)
            case 1 where at < bytes.count: bytes.remove(at: at)
            case 2 where at < bytes.count: bytes[at] = random.pick(alphabet)
            default: bytes = Array(bytes.prefix(at))
            }
        }
        return bytes
    }

    /// `bytes` cut into pieces: whole, a byte at a time, or at random points.
    static func chunks(_ bytes: [UInt8], _ random: inout SplitMix64, style: Int) -> [[UInt8]] {
        switch style {
        case 0: return [bytes]
        case 1: return bytes.map { [$0] }
        default:
            var chunks: [[UInt8]] = []
            var start = 0
            while start < bytes.count {
                let length = min(bytes.count - start, 1 + random.below(random.chance(50) ? 8 : 200))
                chunks.append(Array(bytes[start..<(start + length)]))
                start += length
            }
            return chunks
        }
    }

    // MARK: - Tests

    @Test func wellFormedBodiesGiveTheirPartsHoweverTheyAreCut() {
        var random = SplitMix64(seed: 0x5EED_0001)
        for round in 0..<400 {
            let generated = Self.wellFormed(&random)
            for style in 0..<3 {
                let scanned = Self.scan(
                    Self.chunks(generated.bytes, &random, style: style), boundary: generated.boundary)
                #expect(!scanned.failed, "round \(round), style \(style)")
                #expect(scanned.events == generated.expected, "round \(round), style \(style)")
                if scanned.events != generated.expected { return }
            }
        }
    }

    @Test func damagedBodiesGiveWhatMultipartKitGives() {
        var random = SplitMix64(seed: 0x5EED_0002)
        var failures = 0
        for round in 0..<3000 {
            var generated = Self.wellFormed(&random)
            // The oracle's table lookup traps above 127: bodies for it stay in US-ASCII.
            generated.bytes = generated.bytes.map { $0 & 0x7F }
            let bytes = Self.damaged(generated.bytes, &random, boundary: generated.boundary)
            let chunks = Self.chunks(bytes, &random, style: 2)
            let ours = Self.scan(chunks, boundary: generated.boundary)
            let theirs = Self.oracle(chunks, boundary: generated.boundary)
            if ours.failed { failures += 1 }
            #expect(ours.failed == theirs.failed, "round \(round)")
            #expect(ours.events == theirs.events, "round \(round)")
            if ours.events != theirs.events || ours.failed != theirs.failed { return }
        }
        // The damage must reach the grammar often enough for the comparison to mean something.
        #expect(failures > 300)
    }

    /// Short bodies of the grammar's own pieces in any order: the corners (a preamble's hyphens,
    /// a delimiter cut short, a header line without its `\n`) that generated bodies rarely reach.
    @Test(arguments: ["b", "-b", "ab:"])
    func arbitraryPiecesOfTheGrammarGiveWhatMultipartKitGives(boundary: String) {
        var random = SplitMix64(seed: 0x5EED_0003 &+ UInt64(boundary.utf8.count))
        let pieces = [
            "\r\n--\(boundary)", "--\(boundary)", "\r\n", "\r", "\n", "-", ":", " ", "\t", "a", "A: v", boundary,
            "\r\n--\(boundary)--",
        ].map { Array($0.utf8) }
        var outcomes: Set<String> = []
        for round in 0..<5000 {
            var bytes: [UInt8] = random.chance(70) ? Array("--\(boundary)\r\n".utf8) : []
            for _ in 0..<random.below(14) { bytes += random.pick(pieces) }
            let chunks = Self.chunks(bytes, &random, style: random.below(3))
            let ours = Self.scan(chunks, boundary: boundary)
            let theirs = Self.oracle(chunks, boundary: boundary)
            #expect(ours.failed == theirs.failed, "round \(round): \(bytes)")
            #expect(ours.events == theirs.events, "round \(round): \(bytes)")
            if ours.events != theirs.events || ours.failed != theirs.failed { return }
            outcomes.insert("\(ours.failed) \(ours.events)")
        }
        // Many different outcomes, failures among them: the pieces reached every part of the grammar.
        #expect(outcomes.count > 500)
        #expect(outcomes.contains { $0.hasPrefix("true") })
        #expect(outcomes.contains { $0.hasPrefix("false") && $0.contains("complete") })
    }

    @Test func aHeaderNameByteOutsideASCIIIsASyntaxError() {
        for byte: UInt8 in [0x80, 0xC3, 0xFF, 0x7F, 0x20, UInt8(ascii: "(")] {
            let body = Array("--b\r\n".utf8) + [byte] + Array(": x\r\n\r\nhello\r\n--b--".utf8)
            let scanned = Self.scan([body], boundary: "b")
            #expect(scanned.failed, "\(byte)")
            #expect(scanned.events.isEmpty, "\(byte)")
        }
        let valid = Self.scan([Array("--b\r\nA: x\r\n\r\nhello\r\n--b--".utf8)], boundary: "b")
        #expect(!valid.failed)
        #expect(valid.events == [.header("A", "x"), .body(Array("hello".utf8)), .complete])
    }

    @Test func aPartEndsOnlyWhenTheByteAfterItsDelimiterArrives() {
        let scanned = Self.scan([Array("--b\r\n\r\nhello\r\n--b".utf8)], boundary: "b")
        #expect(!scanned.failed)
        #expect(scanned.events == [.body(Array("hello".utf8))])
    }

    /// The run before a `\r` reaches `onBody` as a view of the bytes that arrived, not a copy.
    @Test func aBodyRunIsASliceOfTheArrivingBuffer() throws {
        let head = Array("--b\r\nA: x\r\n\r\n".utf8)
        let content = Array(repeating: UInt8(ascii: "z"), count: 64 << 10)
        let input = ByteBuffer(bytes: head + content)
        let scanner = MultipartScanner(boundary: "b")
        var runs: [(address: UnsafeRawPointer?, count: Int)] = []
        scanner.onBody = { buffer in
            runs.append(buffer.withUnsafeReadableBytes { (UnsafeRawPointer($0.baseAddress), $0.count) })
            buffer.moveReaderIndex(to: buffer.writerIndex)
        }
        try scanner.execute(input)
        let start = input.withUnsafeReadableBytes { UnsafeRawPointer($0.baseAddress) }
        try #require(runs.count == 1)
        #expect(runs[0].count == content.count)
        #expect(runs[0].address == start.map { $0 + head.count })
    }
}
