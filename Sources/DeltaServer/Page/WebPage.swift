import Hummingbird
import NIOCore

/// `GET /`: the server's own page — every workspace with its sequence, size, last upload and
/// upload rate; per workspace, a live list of changes (the browser's `EventSource` on the
/// stream) and a file browser over the manifest. Static HTML and JavaScript, public; the data
/// comes from the read API, authorised by the session cookie the page sets from a token typed
/// once (a token never appears in a URL).
enum WebPage {
    static func register(on router: Router<DeltaRequestContext>) {
        router.get("/") { _, _ in
            Response(
                status: .ok,
                headers: [
                    .contentType: "text/html; charset=utf-8", .cacheControl: "no-cache",
                    .contentSecurityPolicy: "default-src 'self'; style-src 'unsafe-inline'; script-src 'unsafe-inline'",
                ],
                body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
        }
    }

    static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>DeltaSync</title>
        <style>
          body { font: 14px system-ui, sans-serif; margin: 2em; color: #222; }
          table { border-collapse: collapse; }
          td, th { padding: 4px 12px; border-bottom: 1px solid #ddd; text-align: left; }
          tr.workspace { cursor: pointer; }
          tr.workspace:hover { background: #f4f4f4; }
          #changes li { font-family: ui-monospace, monospace; }
          .hidden { display: none; }
          #error { color: #b00; }
        </style>
        </head>
        <body>
        <h1>DeltaSync</h1>
        <form id="login" class="hidden">
          <label>Token <input id="token" type="password" autocomplete="off"></label>
          <button type="submit">Sign in</button>
        </form>
        <p id="error"></p>
        <table id="workspaces">
          <thead><tr><th>workspace</th><th>sequence</th><th>files</th><th>last upload</th><th>uploads/min</th><th>code graph</th></tr></thead>
          <tbody></tbody>
        </table>
        <section id="detail" class="hidden">
          <h2 id="title"></h2>
          <h3>Live changes</h3>
          <ul id="changes"></ul>
          <h3>Files</h3>
          <ul id="files"></ul>
        </section>
        <script>
        "use strict";
        const $ = (id) => document.getElementById(id);
        let stream = null;
        let graphStream = null;

        async function api(path, options) {
          const response = await fetch(path, Object.assign({ credentials: "same-origin" }, options || {}));
          if (response.status === 401) { $("login").classList.remove("hidden"); throw new Error("sign in"); }
          if (!response.ok) { throw new Error(path + ": HTTP " + response.status); }
          return response.json();
        }

        function cell(row, text) { const td = document.createElement("td"); td.textContent = text; row.appendChild(td); }

        async function refresh() {
          try {
            const data = await api("/api/v1/workspaces");
            $("error").textContent = "";
            const body = $("workspaces").querySelector("tbody");
            body.textContent = "";
            for (const w of data.workspaces) {
              const row = document.createElement("tr");
              row.className = "workspace";
              row.dataset.workspace = w.workspace;
              cell(row, w.workspace); cell(row, w.last_sequence); cell(row, w.file_count);
              cell(row, w.last_upload || "never"); cell(row, w.uploads_per_minute);
              cell(row, w.index_status === "indexing"
                ? "indexing " + w.indexed_sequence + "/" + w.last_sequence + " (" + w.pending_operations + " pending)"
                : w.index_status + " at " + w.indexed_sequence);
              row.onclick = () => openWorkspace(w.workspace);
              body.appendChild(row);
            }
          } catch (error) { $("error").textContent = error.message; }
        }

        async function openWorkspace(workspace) {
          $("detail").classList.remove("hidden");
          $("title").textContent = workspace;
          $("changes").textContent = "";
          const query = "workspace=" + encodeURIComponent(workspace);
          const manifest = await api("/api/v1/delta/manifest?" + query);
          $("files").textContent = "";
          for (const file of manifest.files) {
            const item = document.createElement("li");
            item.textContent = file.path + " (" + file.size_bytes + " bytes" + (file.mode & 0o111 ? ", executable" : "") + ")";
            $("files").appendChild(item);
          }
          if (stream) { stream.close(); }
          stream = new EventSource("/api/v1/delta/stream?" + query + "&since=" + manifest.sequence);
          stream.addEventListener("change", (event) => {
            const change = JSON.parse(event.data);
            for (const op of change.operations) {
              const item = document.createElement("li");
              item.className = "change";
              item.textContent = "#" + change.sequence + " " + op.operation + " " + op.path +
                (op.source_path ? " (from " + op.source_path + ")" : "");
              $("changes").prepend(item);
            }
            refresh();
          });
          if (graphStream) { graphStream.close(); }
          graphStream = new EventSource("/api/v1/graph/stream?" + query + "&since=" + manifest.sequence);
          graphStream.addEventListener("invalidated", (event) => {
            const record = JSON.parse(event.data);
            const item = document.createElement("li");
            item.className = "invalidation";
            item.textContent = "graph indexed #" + record.to_sequence + ": " + record.changed_count + " changed, " +
              record.invalidated_count + " invalidated";
            $("changes").prepend(item);
            refresh();
          });
        }

        $("login").addEventListener("submit", async (event) => {
          event.preventDefault();
          try {
            await api("/api/v1/session", { method: "POST", headers: { "content-type": "application/json" },
              body: JSON.stringify({ token: $("token").value }) });
            $("token").value = "";
            $("login").classList.add("hidden");
            refresh();
          } catch (error) { $("error").textContent = error.message; }
        });

        refresh();
        setInterval(refresh, 5000);
        </script>
        </body>
        </html>
        """
}
