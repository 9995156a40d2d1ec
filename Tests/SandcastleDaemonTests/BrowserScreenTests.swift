import Foundation
import NIOCore
import SandcastleBench
import SandcastleTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real browser on the terminal WebSocket: headless Chromium runs xterm.js (Debian's), which
/// connects to the real daemon with an attach token and `replay=screen` while `vi` runs in a
/// session on the Debian image. What xterm.js shows must be the daemon's screen
/// (`GET /v1/sessions/{id}/screen`) row for row; the screenshot is kept for a person to look at.
@Suite(
    "A browser's xterm.js shows the daemon's screen (Debian image, headless Chromium)", .serialized, .timeLimit(.minutes(5)),
    .requiresEngine,
    .enabled(
        if: Browser.missing == nil,
        "needs \(Browser.missing ?? "") (scripts/lib/common.sh installs chromium, libjs-xterm and node-xterm)"))
struct BrowserScreenTests {
    typealias Daemon = DaemonProcessTests.Daemon

    static let columns = 100
    static let rows = 30

    /// Where the screenshot goes: `.build/test-output/<suite>/`, kept after the run.
    static var outputDirectory: String {
        ManagerFixture.repositoryRoot.appendingPathComponent(".build/test-output/BrowserScreenTests").path
    }

    @Test func xtermInChromiumShowsViAsTheDaemonsScreenHasIt() async throws {
        let image = ProcessInfo.processInfo.environment["SANDCASTLE_DEBIAN_IMAGE"] ?? "sandcastle/debian:latest"
        let directory = try DaemonLifecycleTests.scratch()
        let apiPort = try freeLoopbackPort()
        let webPort = try freeLoopbackPort()
        let origin = "http://127.0.0.1:\(webPort)"
        let web = try WebServer(directory: directory + "/web", port: webPort)
        defer { web.stop() }

        // The page's origin allowed, and the typing viewer's.
        try await DaemonLifecycleTests.withDaemon(
            directory, api: #"tcp = "127.0.0.1:\#(apiPort)""#, origins: [origin, "ws://127.0.0.1"]
        ) { daemon in
            try await daemon.waitUntilListening()
            let id = "browser-vi"
            let created = try await daemon.curl([
                "-H", "Content-Type: application/json", "-d",
                #"{"id":"\#(id)","image":"\#(image)","profile":"default","workspace":"browser","command":["bash"]}"#,
                "http://x/v1/sessions",
            ])
            #expect(created.contains(#""state":"running""#), "\(created)")

            // vi on a file, text typed in, the cursor moved back into it; the size set by this rw viewer.
            let rw = try await DaemonLifecycleTests.token(daemon, session: id)
            let typing = DaemonLifecycleTests.Viewer()
            try await DaemonLifecycleTests.view(port: apiPort, session: id, token: rw, viewer: typing) { tty in
                try await tty.write(.text(#"{"type":"resize","cols":\#(Self.columns),"rows":\#(Self.rows)}"#))
                try await eventually("the bash prompt") { typing.output.contains("$ ") }
                try await tty.write(.binary(ByteBuffer(string: "vi notes.txt\r")))
                try await eventually("vi's screen") { try await Self.screen(daemon, id).rows.contains { $0.hasPrefix("~") } }
                try await tty.write(.binary(ByteBuffer(string: "ifirst line\rsecond line\r\tthird\u{1b}kkll")))
                try await eventually("the typed text and the cursor back on line 1") {
                    let screen = try await Self.screen(daemon, id)
                    return screen.rows.contains { $0.hasSuffix("third") } && screen.cursor.row == 0
                }
            }
            let expected = try await Self.screen(daemon, id)
            #expect(expected.size == (columns: Self.columns, rows: Self.rows))

            // Twice: once dumping the DOM (the rows xterm.js holds), once taking the screenshot.
            let dom = try await Self.chromium(["--dump-dom"], page: try await Self.pageURL(daemon, id, origin: origin, apiPort: apiPort))
            let shown = try Self.renderedRows(dom)
            let png = Self.outputDirectory + "/vi.png"
            try FileManager.default.createDirectory(atPath: Self.outputDirectory, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: png)
            let shot = try await Self.chromium(
                ["--screenshot=\(png)", "--window-size=1000,640"], page: try await Self.pageURL(daemon, id, origin: origin, apiPort: apiPort))
            #expect(FileManager.default.fileExists(atPath: png), "no screenshot: \(shot)")

            // The screen has not changed meanwhile, and xterm.js shows it row for row.
            let after = try await Self.screen(daemon, id)
            #expect(after.rows == expected.rows)
            #expect(shown.count == Self.rows, "\(shown)")
            for (index, (browser, daemonRow)) in zip(shown, expected.rows).enumerated() {
                #expect(browser == daemonRow, "row \(index): xterm.js shows \(browser.debugDescription), the daemon \(daemonRow.debugDescription)")
            }
            #expect(expected.rows.contains { $0.contains("second line") } && expected.rows.contains { $0.contains("notes.txt") })
            #expect(!web.log.contains("attach failed"), "\(web.log)")
        }
    }

    // MARK: - the daemon

    struct Screen {
        var rows: [String]
        var cursor: (row: Int, column: Int)
        var size: (columns: Int, rows: Int)
    }

    static func screen(_ daemon: Daemon, _ id: String) async throws -> Screen {
        let text = try await daemon.curl(["http://x/v1/sessions/\(id)/screen"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "\(text)")
        let cursor = object["cursor"] as? [String: Any] ?? [:]
        let size = object["size"] as? [String: Any] ?? [:]
        return Screen(
            rows: try #require(object["rows"] as? [String], "\(text)"),
            cursor: (cursor["row"] as? Int ?? -1, cursor["column"] as? Int ?? -1),
            size: (size["columns"] as? Int ?? -1, size["rows"] as? Int ?? -1))
    }

    /// The test page with a fresh read-only attach token (a viewer that never resizes).
    static func pageURL(_ daemon: Daemon, _ id: String, origin: String, apiPort: Int) async throws -> String {
        let answer = try await daemon.curl([
            "-X", "POST", "-H", "Content-Type: application/json", "-d", #"{"role":"ro","ttlSeconds":120}"#,
            "http://x/v1/sessions/\(id)/attach-tokens",
        ])
        let object = try JSONSerialization.jsonObject(with: Data(answer.utf8)) as? [String: Any]
        let token = try #require(object?["token"] as? String, "\(answer)")
        let run = UUID().uuidString.prefix(8)
        return "\(origin)/index.html?run=\(run)&cols=\(columns)&rows=\(rows)"
            + "&tty=\("ws://127.0.0.1:\(apiPort)/v1/sessions/\(id)/tty?replay=screen".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
            + "&token=\(token.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)"
    }

    // MARK: - the browser

    /// Headless Chromium on `page`; its standard output (the DOM with `--dump-dom`). The page
    /// holds its `load` event until xterm.js has drawn the repaint (see `WebServer`).
    static func chromium(_ arguments: [String], page: String) async throws -> String {
        let profile = NSTemporaryDirectory() + "sc-chromium-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        let result = try await ChildProcess.run(
            Browser.chromium,
            [
                "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-dev-shm-usage",
                "--user-data-dir=\(profile)", "--hide-scrollbars",
            ] + arguments + [page],
            timeout: .seconds(120))
        #expect(result.status == 0, "chromium: \(result.output)")
        return result.output
    }

    /// The rows the page put into `<pre id="rows">`: JSON, base64 of its UTF-8.
    static func renderedRows(_ dom: String) throws -> [String] {
        guard let start = dom.range(of: #"<pre id="rows">"#), let end = dom.range(of: "</pre>", range: start.upperBound..<dom.endIndex)
        else { throw ChildProcess.Failure("the page did not render its rows (xterm.js failed?):\n\(dom.suffix(4000))") }
        let encoded = String(dom[start.upperBound..<end.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
        if encoded.hasPrefix("error:") { throw ChildProcess.Failure("the page failed: \(encoded)") }
        let json = try #require(Data(base64Encoded: encoded), "not base64: \(encoded.prefix(200))")
        return try #require(try JSONSerialization.jsonObject(with: json) as? [String])
    }
}

/// What the browser test runs, from Debian's packages.
enum Browser {
    static let chromium = "/usr/bin/chromium"
    /// Debian's xterm.js: `libjs-xterm` has the browser entry point, whose CommonJS modules
    /// `node-xterm` ships; the page loads both through a small `require`.
    static let xtermEntry = "/usr/share/javascript/xterm"
    static let xtermModules = "/usr/share/nodejs/xterm/lib"
    static let python = "/usr/bin/python3"

    /// The first of them that is not installed.
    static var missing: String? {
        [chromium, xtermEntry + "/xterm.js", xtermModules + "/public/Terminal.js", python].first {
            !FileManager.default.fileExists(atPath: $0)
        }
    }
}

/// The page's origin: a small HTTP server (Python's, on loopback) serving the test page, Debian's
/// xterm.js files, and two routes that make the page's `load` event wait for xterm.js: the page
/// posts `/rendered?run=X` once the repaint is drawn, and `/after-render.js?run=X` (a script at
/// the end of the page) is answered only then. `--dump-dom` and `--screenshot` run after `load`.
final class WebServer: Sendable {
    let process: Process
    let logPath: String
    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    init(directory: String, port: Int) throws {
        let files = FileManager.default
        try files.createDirectory(atPath: directory + "/xterm", withIntermediateDirectories: true)
        // /xterm/xterm.js and xterm.css from libjs-xterm; its `require("./public/Terminal")` and
        // the rest resolve to node-xterm's modules beside it.
        for name in ["xterm.js", "xterm.css"] {
            try files.createSymbolicLink(atPath: "\(directory)/xterm/\(name)", withDestinationPath: "\(Browser.xtermEntry)/\(name)")
        }
        for name in try files.contentsOfDirectory(atPath: Browser.xtermModules) where !["xterm.js", "xterm.css"].contains(name) {
            try files.createSymbolicLink(atPath: "\(directory)/xterm/\(name)", withDestinationPath: "\(Browser.xtermModules)/\(name)")
        }
        try Self.page.write(toFile: directory + "/index.html", atomically: true, encoding: .utf8)
        try Self.server.write(toFile: directory + "/../server.py", atomically: true, encoding: .utf8)
        logPath = directory + "/../web.log"
        _ = files.createFile(atPath: logPath, contents: nil)
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        process = Process()
        process.executableURL = URL(fileURLWithPath: Browser.python)
        process.arguments = [directory + "/../server.py", String(port), directory]
        process.standardOutput = log
        process.standardError = log
        try process.run()
        let deadline = ContinuousClock.now + .seconds(10)
        while !self.log.contains("serving"), process.isRunning, ContinuousClock.now < deadline { usleep(20_000) }
    }

    /// SIGKILL: a child of the test process may inherit a mask that blocks SIGTERM.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    static let server = #"""
        import http.server, sys, threading, urllib.parse

        port, root = int(sys.argv[1]), sys.argv[2]
        lock = threading.Lock()
        runs = {}

        def event(query):
            run = urllib.parse.parse_qs(query).get("run", [""])[0]
            with lock:
                return runs.setdefault(run, threading.Event())

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=root, **kwargs)

            def do_POST(self):
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if path == "/rendered":
                    event(query).set()
                elif path == "/log":
                    sys.stderr.write("page: " + body.decode("utf-8", "replace") + "\n")
                self.send_response(204)
                self.end_headers()

            def do_GET(self):
                path, _, query = self.path.partition("?")
                if path != "/after-render.js":
                    return super().do_GET()
                rendered = event(query).wait(60)
                body = b"finish();" if rendered else b"fail('xterm.js did not draw the repaint in 60 s');"
                self.send_response(200)
                self.send_header("Content-Type", "text/javascript")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format, *args):
                sys.stderr.write(format % args + "\n")

        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        sys.stderr.write("serving on %d\n" % port)
        sys.stderr.flush()
        server.serve_forever()
        """#

    static let page = #"""
        <!doctype html>
        <html><head><meta charset="utf-8">
        <link rel="stylesheet" href="/xterm/xterm.css">
        <style>body { margin: 0; background: #000; } #rows { display: none; }</style>
        <script>
        // A CommonJS require for Debian's xterm.js, whose files are modules, not a browser bundle.
        var cache = {};
        function resolve(from, name) {
          var parts = from.split("/"); parts.pop();
          name.split("/").forEach(function (part) { if (part === "..") parts.pop(); else if (part !== ".") parts.push(part); });
          var path = parts.join("/");
          return /\.js$/.test(path) ? path : path + ".js";
        }
        function load(path) {
          if (cache[path]) return cache[path].exports;
          var request = new XMLHttpRequest();
          request.open("GET", path, false);
          request.send();
          if (request.status !== 200) throw new Error(path + ": HTTP " + request.status);
          var module = { exports: {} };
          cache[path] = module;
          new Function("exports", "require", "module", request.responseText + "\n//# sourceURL=" + path)(
            module.exports, function (name) { return load(resolve(path, name)); }, module);
          return module.exports;
        }
        var params = new URLSearchParams(location.search);
        function post(path, text) {
          var request = new XMLHttpRequest();
          request.open("POST", path + "?run=" + params.get("run"), true);
          request.send(text || "");
        }
        var term, failed = false;
        function fail(message) { failed = true; document.getElementById("rows").textContent = "error: " + message; }
        function finish() {
          if (failed) return;
          var buffer = term._core.buffer, rows = [];
          for (var y = 0; y < term.rows; y++) rows.push(buffer.translateBufferLineToString(buffer.ybase + y, true));
          document.getElementById("rows").textContent = btoa(unescape(encodeURIComponent(JSON.stringify(rows))));
        }
        </script>
        </head><body>
        <div id="terminal"></div>
        <pre id="rows"></pre>
        <script>
        try {
          var Terminal = load("/xterm/xterm.js");
          term = new Terminal({ cols: +params.get("cols"), rows: +params.get("rows"), rendererType: "dom", fontFamily: "DejaVu Sans Mono" });
          term.open(document.getElementById("terminal"));
          var socket = new WebSocket(params.get("tty"), ["sandcastle.tty.v1", "bearer." + params.get("token")]);
          socket.binaryType = "arraybuffer";
          var decoder = new TextDecoder(), drawn = false, quiet = null;
          // Rendered: the repaint arrived and nothing more for 300 ms, and xterm.js wrote it all.
          function settle() {
            clearTimeout(quiet);
            quiet = setTimeout(function check() {
              if (term._core._writeInProgress || term._core.writeBuffer.length > 0) { quiet = setTimeout(check, 50); return; }
              post("/rendered");
            }, 300);
          }
          socket.onmessage = function (event) {
            if (typeof event.data === "string") { post("/log", event.data); return; }
            term.write(decoder.decode(new Uint8Array(event.data), { stream: true }));
            drawn = true;
            settle();
          };
          socket.onclose = function (event) { post("/log", "closed " + event.code + " " + event.reason); if (!drawn) { fail("closed " + event.code); post("/rendered"); } };
        } catch (error) {
          post("/log", "attach failed: " + error);
          fail(String(error));
          post("/rendered");
        }
        </script>
        <script>
        // Parser-blocking: the page's `load` waits for this script, which the server answers
        // once the page posted /rendered.
        document.write('<script src="/after-render.js?run=' + encodeURIComponent(params.get("run")) + '"><\/script>');
        </script>
        </body></html>
        """#
}
