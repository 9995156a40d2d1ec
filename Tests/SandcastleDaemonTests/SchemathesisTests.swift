import AccessControl
import Foundation
import SandcastleBench
import SandcastleTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// schemathesis (PyPI; `scripts/test` installs it with pip) generates requests from the served
/// OpenAPI document against the real daemon: schema-valid ones must be accepted, invalid ones
/// refused, undeclared methods answered 405, responses must conform, nothing may be a 5xx.
///
/// It runs with a viewer key, so that every read is exercised for real while every request that
/// would create, stop or remove something is refused (403) before it reaches the engine: nothing
/// is launched. The terminal (a WebSocket) and the event stream (which never ends unless asked)
/// are left out. The workspace files and archive routes get a run of their own (see below).
@Suite("schemathesis against the daemon", .serialized, .requiresEngine, .enabled(if: Schemathesis.path != nil, Schemathesis.missing))
struct SchemathesisTests {
    @Test func theDocumentDeclaresWhatTheServerAccepts() async throws {
        let directory = "/tmp/sc-schemathesis-\(UUID().uuidString.prefix(6).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let port = try freeLoopbackPort()
        let viewer = (0..<32).map { _ in String(UInt8.random(in: 0...255), radix: 16) }.joined()
        let daemon = try SandcastledProcess(
            directory: directory, api: #"tcp = "127.0.0.1:\#(port)""#,
            tail: """
                [auth]
                [[auth.keys]]
                name = "watcher"
                sha256 = "\(APIKeyring.sha256Hex(of: viewer))"
                role = "viewer"
                [limits]
                per_key_burst = 1000000
                per_key_per_second = 1000000
                per_address_burst = 1000000
                per_address_per_second = 1000000
                """)
        do {
            try await daemon.waitUntilListening()
            let run = try await ChildProcess.run(
                Schemathesis.path ?? "schemathesis",
                [
                    "run", "http://127.0.0.1:\(port)/v1/openapi.json", "--checks", "all", "--header",
                    "Authorization: Bearer \(viewer)", "--exclude-operation-id", "terminal", "--exclude-operation-id", "events",
                    // The workspace files and archive routes run on their own, below.
                    "--exclude-path-regex", "^/v1/workspaces/[^/]+/(files|archive)",
                    "--max-examples", "40", "--seed", "20261204", "--request-timeout", "20", "--wait-for-schema", "15", "--no-color",
                ],
                workingDirectory: directory, timeout: .seconds(900))
            print(run.output.split(separator: "\n").suffix(12).joined(separator: "\n"))
            #expect(run.status == 0, "schemathesis failed (exit \(run.status)):\n\(run.output)")
            // The files and archive routes, with every check but one: "a request the schema
            // allows is accepted". JSON Schema counts characters, the server bytes: a `{path}`
            // of allowed characters is refused (422, declared) when it decodes to more than 255
            // bytes in a name or 4096 in all, or has `.`, `..` or an empty segment; and a
            // `cursor` of the right shape that the server never issued is a 400 (declared).
            let files = try await ChildProcess.run(
                Schemathesis.path ?? "schemathesis",
                [
                    "run", "http://127.0.0.1:\(port)/v1/openapi.json", "--checks", "all",
                    "--exclude-checks", "positive_data_acceptance", "--header", "Authorization: Bearer \(viewer)",
                    "--include-path-regex", "^/v1/workspaces/[^/]+/(files|archive)",
                    "--max-examples", "40", "--seed", "20261204", "--request-timeout", "20", "--wait-for-schema", "15", "--no-color",
                ],
                workingDirectory: directory, timeout: .seconds(900))
            print(files.output.split(separator: "\n").suffix(12).joined(separator: "\n"))
            #expect(files.status == 0, "schemathesis on the files routes failed (exit \(files.status)):\n\(files.output)")
            _ = await daemon.stop(SIGTERM)
        } catch {
            _ = await daemon.stop(SIGKILL)
            Issue.record("daemon log: \(daemon.logText)")
            throw error
        }
    }
}

enum Schemathesis {
    /// `schemathesis` on PATH (or pyenv's shims), nil when it is not installed.
    static let path: String? = {
        let directories = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
            + ["/root/.pyenv/shims", "/usr/local/bin"]
        return directories.map { $0 + "/schemathesis" }.first { access($0, X_OK) == 0 }
    }()

    static let missing: Comment = "schemathesis is not installed: `pip install schemathesis` (scripts/test does)"
}
