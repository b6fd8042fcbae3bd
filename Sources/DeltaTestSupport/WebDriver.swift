import DeltaCore
import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// A real browser for page tests: Debian's `chromium`, headless, driven by `chromedriver` over
/// the W3C WebDriver HTTP protocol on loopback. Only what the page test needs: open a URL,
/// find elements by CSS selector, click, type, read text, run a script.
public final class WebDriver: @unchecked Sendable {
    /// Where the browser and its driver are expected (Debian's `chromium`, `chromium-driver`).
    public static let chromium = ProcessInfo.processInfo.environment["DELTASYNC_CHROMIUM"] ?? "/usr/bin/chromium"
    public static let chromedriver =
        ProcessInfo.processInfo.environment["DELTASYNC_CHROMEDRIVER"] ?? "/usr/bin/chromedriver"

    /// True when both binaries are installed (`scripts/install-deps.sh` installs them).
    public static var isAvailable: Bool {
        FileManager.default.isExecutableFile(atPath: chromium)
            && FileManager.default.isExecutableFile(atPath: chromedriver)
    }

    /// True when a missing browser must fail the test instead of skipping it (CI sets this).
    public static var isRequired: Bool { ProcessInfo.processInfo.environment["DELTASYNC_REQUIRE_BROWSER"] == "1" }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// A found element's WebDriver reference.
    public struct Element: Sendable {
        public let id: String
    }

    private let driver: ChildProcess
    private let base: String
    private var session = ""

    private init(driver: ChildProcess, port: Int) {
        self.driver = driver
        base = "http://127.0.0.1:\(port)"
    }

    /// Starts `chromedriver` on a free loopback port and a headless browser session, runs
    /// `body`, then ends the session and the driver whatever happened.
    public static func with<T: Sendable>(_ body: (WebDriver) async throws -> T) async throws -> T {
        let driver = try await start()
        do {
            try await driver.newSession()
            let result = try await body(driver)
            await driver.quit()
            return result
        } catch {
            await driver.quit()
            throw error
        }
    }

    private static func start() async throws -> WebDriver { try await offThePool { try startBlocking() } }

    /// Runs `chromedriver --port=0` and reads the port it reports ("… started successfully on port N.").
    private static func startBlocking() throws -> WebDriver {
        let process = try ChildProcess(
            executable: chromedriver, arguments: ["--port=0", "--allowed-ips=127.0.0.1", "--log-level=SEVERE"],
            standardOutput: .pipe, standardError: .null)
        let output = process.standardOutput
        var buffer = Data()
        while true {
            let chunk = output.availableData
            if chunk.isEmpty { break }
            buffer.append(chunk)
            let text = String(decoding: buffer, as: UTF8.self)
            if let range = text.range(of: "started successfully on port "),
                let port = Int(text[range.upperBound...].prefix { $0.isNumber })
            {
                // Keep draining the driver's output so it never blocks on a full pipe.
                let handle = output
                DispatchQueue.global().async { while !handle.availableData.isEmpty {} }
                return WebDriver(driver: process, port: port)
            }
        }
        process.terminate()
        throw Failure(description: "chromedriver did not start: \(String(decoding: buffer, as: UTF8.self))")
    }

    private func newSession() async throws {
        let capabilities: [String: Any] = [
            "capabilities": [
                "alwaysMatch": [
                    "browserName": "chrome",
                    "goog:chromeOptions": [
                        "binary": Self.chromium,
                        "args": [
                            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                        ],
                    ],
                ]
            ]
        ]
        let value = try await command("POST", "/session", capabilities)
        guard let id = (value as? [String: Any])?["sessionId"] as? String else {
            throw Failure(description: "no session id in \(String(describing: value))")
        }
        session = id
    }

    /// Ends the browser session, then the driver (`chromedriver` ignores SIGTERM: it is asked
    /// to shut down, and killed if it is still there).
    private func quit() async {
        if !session.isEmpty { _ = try? await command("DELETE", "/session/\(session)", nil) }
        _ = try? await command("GET", "/shutdown", nil)
        let driver = self.driver
        await offThePool {
            if driver.isRunning { kill(driver.processIdentifier, SIGKILL) }
            driver.waitUntilExit()
        }
    }

    // MARK: - Commands

    public func open(_ url: String) async throws {
        _ = try await command("POST", "/session/\(session)/url", ["url": url])
    }

    public func currentURL() async throws -> String {
        try await command("GET", "/session/\(session)/url", nil) as? String ?? ""
    }

    /// Every element matching a CSS selector, in document order.
    public func findAll(_ selector: String) async throws -> [Element] {
        let value = try await command(
            "POST", "/session/\(session)/elements", ["using": "css selector", "value": selector])
        return (value as? [[String: Any]] ?? []).compactMap { entry in
            (entry.first { $0.key.hasPrefix("element-") }?.value as? String).map(Element.init)
        }
    }

    public func click(_ element: Element) async throws {
        _ = try await command("POST", "/session/\(session)/element/\(element.id)/click", [String: Any]())
    }

    public func type(_ text: String, into element: Element) async throws {
        _ = try await command("POST", "/session/\(session)/element/\(element.id)/value", ["text": text])
    }

    /// Runs `script` in the page and returns its result as a string (`String(describing:)`).
    public func evaluate(_ script: String) async throws -> String {
        let value = try await command("POST", "/session/\(session)/execute/sync", ["script": script, "args": []])
        return value.map { "\($0)" } ?? ""
    }

    /// Polls `probe` every 100 ms until it returns a value, for at most `seconds` (a guard
    /// against a hang, not an assertion on speed).
    public func waitFor<T>(
        _ what: String, seconds: Int = 60, _ probe: () async throws -> T?
    ) async throws -> T {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if let found = try await probe() { return found }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw Failure(description: "the page never showed \(what)")
    }

    /// The texts of every element matching `selector`.
    /// The rendered texts of every element matching `selector` (whitespace runs as one space,
    /// empty when hidden), read in one script so a re-render between reads can't leave a stale
    /// element reference.
    public func texts(_ selector: String) async throws -> [String] {
        let value = try await command(
            "POST", "/session/\(session)/execute/sync",
            [
                "script":
                    "return Array.from(document.querySelectorAll(arguments[0])).map(e => e.getClientRects().length === 0 ? '' : e.innerText.replace(/\\s+/g, ' ').trim())",
                "args": [selector],
            ])
        return value as? [String] ?? []
    }

    /// Clicks the first element matching `selector`, finding it again if the page re-rendered
    /// it between the find and the click (a stale element reference).
    public func click(_ selector: String) async throws {
        var attempts = 0
        while true {
            do {
                guard let element = try await findAll(selector).first else {
                    throw Failure(description: "nothing matches \(selector)")
                }
                try await click(element)
                return
            } catch let failure as Failure where failure.description.contains("stale element") && attempts < 20 {
                attempts += 1
            }
        }
    }

    private func command(_ method: String, _ path: String, _ body: Any?) async throws -> Any? {
        var request = HTTPClientRequest(url: base + path)
        request.method = .init(rawValue: method)
        if let body {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(120))
        let data = Data(try await response.body.collect(upTo: 64 << 20).readableBytesView)
        let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        let value = (object as? [String: Any])?["value"]
        guard response.status.code == 200 else {
            let message = ((value as? [String: Any])?["message"] as? String) ?? String(decoding: data, as: UTF8.self)
            throw Failure(description: "WebDriver \(method) \(path): HTTP \(response.status.code): \(message)")
        }
        return value is NSNull ? nil : value
    }
}
