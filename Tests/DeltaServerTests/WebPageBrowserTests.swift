import DeltaTestSupport
import Foundation
import Testing

/// The page at `/` in a real browser (headless Debian `chromium` driven over WebDriver).
/// Skipped, visibly, where the browser isn't installed, unless `DELTASYNC_REQUIRE_BROWSER=1`
/// (which CI sets after `scripts/install-deps.sh` installs it): then a missing browser fails.
@Suite(.serialized) struct WebPageBrowserTests {
    @Test(
        "page lists workspaces, shows files and live changes, with auth off and on",
        .enabled(if: WebDriver.isAvailable || WebDriver.isRequired, "chromium and chromedriver are not installed"))
    func pageFollowsAWorkspaceLive() async throws {
        try #require(WebDriver.isAvailable, "DELTASYNC_REQUIRE_BROWSER=1 but chromium/chromedriver are missing")
        try await withTemporaryDirectory("page") { directory in
            try await TestServer.with(workDirectory: directory.path) { server in
                let first = try TestBundle.simple(files: ["src/main.c": "int main(void) { return 0; }\n"])
                #expect(try await ServerTest.upload(server, first).status == 200)
                #expect(
                    try await ServerTest.upload(server, TestBundle.simple(files: ["x": "x"]), workspace: "other")
                        .status == 200)

                try await WebDriver.with { browser in
                    // Auth off: the list shows at once, the detail view lists the manifest.
                    try await browser.open(server.baseURL + "/")
                    let rows = try await browser.waitFor("both workspaces") {
                        let rows = try await browser.texts("tr.workspace")
                        return rows.count == 2 ? rows : nil
                    }
                    #expect(rows[0].hasPrefix("other 1 1"))
                    #expect(rows[1].hasPrefix("ws 1 1"))
                    try await browser.click("tr[data-workspace='ws']")
                    let files = try await browser.waitFor("the file list") {
                        let files = try await browser.texts("#files li")
                        return files.isEmpty ? nil : files
                    }
                    #expect(files == ["src/main.c (29 bytes)"])

                    // An upload shows up in the live list (EventSource) and in the table.
                    let second = try TestBundle.simple(files: ["docs/new.md": "new"], deletes: ["src/main.c"])
                    #expect(try await ServerTest.upload(server, second).status == 200)
                    let changes = try await browser.waitFor("the uploaded change") {
                        let changes = try await browser.texts("li.change")
                        return changes.count == 2 ? changes : nil
                    }
                    #expect(Set(changes) == ["#2 created docs/new.md", "#2 deleted src/main.c"])
                    // The code graph indexes it and says so on the page (its own stream).
                    let indexed = try await browser.waitFor("the graph's invalidation record") {
                        let items = try await browser.texts("li.invalidation")
                        return items.first { $0.hasPrefix("graph indexed #2: 1 changed") }
                    }
                    #expect(indexed.hasSuffix("invalidated"))
                    _ = try await browser.waitFor("sequence 2 in the table") {
                        try await browser.texts("tr[data-workspace='ws']").first?.hasPrefix("ws 2 1") == true
                            ? true : nil
                    }

                    // Auth on: the page asks for a token, signs in with it (cookie, never the URL)
                    // and shows only what the token may read.
                    let reader = try await AuthTests.token(directory.path, workspace: "ws", scope: "read")
                    let writer = try await AuthTests.token(directory.path, workspace: "ws", scope: "write")
                    try await browser.open(server.baseURL + "/")
                    let login = try await browser.waitFor("the sign-in form") {
                        let visible = try await browser.texts("#login")
                        return visible.first?.isEmpty == false ? true : nil
                    }
                    #expect(login)
                    #expect(try await browser.findAll("tr.workspace").isEmpty)
                    try await browser.type(reader, into: try #require(try await browser.findAll("#token").first))
                    try await browser.click("#login button")
                    let signedIn = try await browser.waitFor("the workspace list after signing in") {
                        let rows = try await browser.texts("tr.workspace")
                        return rows.isEmpty ? nil : rows
                    }
                    #expect(signedIn.count == 1 && signedIn[0].hasPrefix("ws 2 1"))
                    #expect(!(try await browser.currentURL()).contains(reader))
                    #expect(try await browser.evaluate("return document.cookie") == "")  // HttpOnly

                    try await browser.click("tr[data-workspace='ws']")
                    _ = try await browser.waitFor("the file list after signing in") {
                        try await browser.texts("#files li") == ["docs/new.md (3 bytes)"] ? true : nil
                    }
                    let third = try TestBundle.simple(updates: ["docs/new.md": "newer"])
                    #expect(
                        try await ServerTest.upload(server, third, headers: [("Authorization", "Bearer \(writer)")])
                            .status == 200)
                    let live = try await browser.waitFor("the change made with auth on") {
                        let changes = try await browser.texts("li.change")
                        return changes.isEmpty ? nil : changes
                    }
                    #expect(live == ["#3 updated docs/new.md"])
                }
            }
        }
    }
}
