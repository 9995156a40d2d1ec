import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The egress section's "outside world", on this machine only: an HTTPS and an HTTP server of
/// the bench's own on loopback (`python3`, started here), a self-signed certificate for
/// ``host`` (openssl), a copy of the policies with the profile ``profile`` (the run's profile
/// plus an allow list naming exactly those two servers, loopback listed as a block as the proxy
/// requires), and the daemon's `[egress]` table (its hosts file maps ``host`` to 127.0.0.1).
/// Beside them, two references in front of the HTTP server that only move bytes with
/// `splice(2)`: a chain of two relays of the tunnel's shape (TCP, a unix socket, TCP), and one
/// relay (TCP to TCP), the least any proxy puts on the path. They show what relaying costs on this
/// machine, whoever writes the relay. Nothing is sent off the machine.
public final class EgressBenchWorld: Sendable {
    /// The profile the section's sessions run under.
    public static let profile = "egress-bench"
    /// The name the sessions ask for; the daemon's hosts file maps it to 127.0.0.1.
    public static let host = "bench.test"

    public let directory: String
    public let httpsPort: Int
    public let httpPort: Int
    /// The relay chain's TCP port: a request to it reaches the HTTP server through both relays.
    public let relayPort: Int
    /// The single relay's TCP port: a request to it reaches the HTTP server through one relay.
    public let singleRelayPort: Int
    /// The policies directory the daemon must load (the run's, plus ``profile``).
    public let policies: String
    private let server: Process

    /// The self-signed certificate the clients trust.
    public var certificate: String { directory + "/cert.pem" }
    /// The daemon's per-session socket directories (`<egressDirectory>/<session>/proxy.sock`).
    public var egressDirectory: String { directory + "/egress" }

    /// TOML for the daemon's configuration: its egress directory and hosts file.
    public var daemonConfig: String {
        """

        [egress]
        directory = "\(egressDirectory)"
        hosts_file = "\(directory)/hosts"
        max_connections = 64

        """
    }

    /// Makes the certificate and the policies, and starts the servers.
    ///
    /// - Parameters:
    ///   - policies: the run's policies directory; `baseProfile` in it is copied as ``profile``.
    public static func start(policies: String, baseProfile: String) async throws -> EgressBenchWorld {
        let directory = try makeTemporaryDirectory(prefix: "sandcastle-bench-egress-")
        chmod(directory, 0o755)
        let manager = FileManager.default
        do {
            try "[req]\ndistinguished_name = dn\n[dn]\n".write(toFile: directory + "/openssl.cnf", atomically: true, encoding: .utf8)
            let made = try await runTool(
                "openssl",
                [
                    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=\(host)", "-addext", "subjectAltName=DNS:\(host)", "-keyout", directory + "/key.pem",
                    "-out", directory + "/cert.pem",
                ], environment: ["OPENSSL_CONF": directory + "/openssl.cnf"])
            guard made.status == 0 else { throw BenchError.daemon("openssl could not make the egress certificate: \(made.output)") }
            try serverSource.write(toFile: directory + "/server.py", atomically: true, encoding: .utf8)
            try "127.0.0.1 \(host)\n".write(toFile: directory + "/hosts", atomically: true, encoding: .utf8)
        } catch {
            try? manager.removeItem(atPath: directory)
            throw error
        }
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", directory + "/server.py", directory]
        server.standardOutput = FileHandle.nullDevice
        let log = directory + "/server.log"
        _ = manager.createFile(atPath: log, contents: nil)
        server.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        do {
            try server.run()
        } catch {
            try? manager.removeItem(atPath: directory)
            throw BenchError.daemon("cannot start python3 for the egress section's servers: \(error)")
        }
        var ports: [Int] = []
        let deadline = ContinuousClock.now + .seconds(15)
        while ports.count != 4 {
            if let text = try? String(contentsOfFile: directory + "/ports", encoding: .utf8), text.hasSuffix("\n") {
                ports = text.split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
            }
            guard ContinuousClock.now < deadline, server.isRunning else {
                kill(server.processIdentifier, SIGKILL)
                let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
                try? manager.removeItem(atPath: directory)
                throw BenchError.daemon("the egress section's servers did not start: \(text.suffix(2000))")
            }
            if ports.count != 4 { try await Task.sleep(for: .milliseconds(20)) }
        }
        let copy = directory + "/policies"
        do {
            try manager.copyItem(atPath: policies, toPath: copy)
            let base = try String(contentsOfFile: copy + "/\(baseProfile).toml", encoding: .utf8)
            let allow = ["\(host):\(ports[0])", "\(host):\(ports[1])", "127.0.0.1/32:\(ports[0])", "127.0.0.1/32:\(ports[1])"]
            // The base profile must not have an [egress] table of its own (TOML forbids two).
            let lines = base.split(separator: "\n", omittingEmptySubsequences: false)
            let kept = lines.prefix { $0.trimmingCharacters(in: .whitespaces) != "[egress]" }.joined(separator: "\n")
            try (kept + "\n\n[egress]\nallow = [\(allow.map { "\"\($0)\"" }.joined(separator: ", "))]\n")
                .write(toFile: copy + "/\(profile).toml", atomically: true, encoding: .utf8)
        } catch {
            kill(server.processIdentifier, SIGKILL)
            try? manager.removeItem(atPath: directory)
            throw BenchError.usage("cannot write the egress profile from \(policies)/\(baseProfile).toml: \(error)")
        }
        return EgressBenchWorld(
            directory: directory, httpsPort: ports[0], httpPort: ports[1], relayPort: ports[2], singleRelayPort: ports[3],
            policies: copy, server: server)
    }

    private init(
        directory: String, httpsPort: Int, httpPort: Int, relayPort: Int, singleRelayPort: Int, policies: String, server: Process
    ) {
        self.directory = directory
        self.httpsPort = httpsPort
        self.httpPort = httpPort
        self.relayPort = relayPort
        self.singleRelayPort = singleRelayPort
        self.policies = policies
        self.server = server
    }

    /// Stops the servers and deletes the directory. SIGKILL: after SIGTERM the python3 servers
    /// were seen still running once the bench had exited.
    public func stop() {
        kill(server.processIdentifier, SIGKILL)
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// `name arguments` with a clean environment (no proxy variables of the caller's) plus
    /// `environment`, on a thread of its own: exit status and output (stdout and stderr).
    static func runTool(_ name: String, _ arguments: [String], environment: [String: String] = [:]) async throws -> (
        status: Int32, output: String
    ) {
        try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(
                    with: Result {
                        let process = Process()
                        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                        process.arguments = [name] + arguments
                        process.environment = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
                            .merging(environment) { $1 }
                        let pipe = Pipe()
                        process.standardOutput = pipe
                        process.standardError = pipe
                        try process.run()
                        let data = pipe.fileHandleForReading.readDataToEndOfFile()
                        process.waitUntilExit()
                        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
                    })
            }.start()
        }
    }

    /// The servers: HTTPS (a short answer, for the time to first byte) and HTTP (`/bytes/N`
    /// answers N bytes, for throughput and the concurrent tunnels), threaded, HTTP/1.1 keep-alive.
    /// The relay chain: TCP on RELAY_PORT to the unix socket DIR/relay.sock, and from it to the
    /// HTTP server; the single relay: TCP on SINGLE_PORT to the HTTP server. Each connection a
    /// thread per direction splicing through a 1 MiB pipe.
    /// Writes "HTTPS_PORT HTTP_PORT RELAY_PORT SINGLE_PORT\n" to DIR/ports once all listen.
    static let serverSource = #"""
        import fcntl, http.server, os, socket, ssl, sys, threading
        directory = sys.argv[1]
        chunk = memoryview(b"x" * (1 << 20))

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes: without this, Nagle and delayed ACKs add 40 ms.
            disable_nagle_algorithm = True
            def do_GET(self):
                if self.path.startswith("/bytes/"):
                    count = int(self.path.split("/")[2])
                    self.send_response(200)
                    self.send_header("Content-Length", str(count))
                    self.end_headers()
                    while count > 0:
                        n = min(count, len(chunk))
                        self.wfile.write(chunk[:n])
                        count -= n
                    return
                body = b"hello from the bench\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 1024

        tls = Server(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory + "/cert.pem", directory + "/key.pem")
        tls.socket = context.wrap_socket(tls.socket, server_side=True)
        plain = Server(("127.0.0.1", 0), Handler)
        for server in (tls, plain):
            threading.Thread(target=server.serve_forever, daemon=True).start()

        def pump(source, destination):
            r, w = os.pipe()
            try:
                fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ
            except OSError:
                pass
            try:
                while True:
                    n = os.splice(source.fileno(), w, 1 << 20)
                    if n == 0:
                        break
                    while n > 0:
                        n -= os.splice(r, destination.fileno(), n)
            except OSError:
                pass
            finally:
                os.close(r)
                os.close(w)
                try:
                    destination.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        def relay(listener, connect):
            while True:
                client, _ = listener.accept()
                upstream = connect()
                def run(a=client, b=upstream):
                    threads = [threading.Thread(target=pump, args=pair) for pair in ((a, b), (b, a))]
                    for thread in threads:
                        thread.start()
                    for thread in threads:
                        thread.join()
                    a.close()
                    b.close()
                threading.Thread(target=run, daemon=True).start()

        relay_socket = directory + "/relay.sock"
        inner = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        inner.bind(relay_socket)
        inner.listen(64)
        outer = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        outer.bind(("127.0.0.1", 0))
        outer.listen(64)
        threading.Thread(target=relay, args=(inner, lambda: socket.create_connection(plain.server_address)), daemon=True).start()
        def to_inner():
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.connect(relay_socket)
            return connection
        threading.Thread(target=relay, args=(outer, to_inner), daemon=True).start()
        single = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        single.bind(("127.0.0.1", 0))
        single.listen(64)
        threading.Thread(target=relay, args=(single, lambda: socket.create_connection(plain.server_address)), daemon=True).start()

        with open(directory + "/ports.tmp", "w") as f:
            f.write("%d %d %d %d\n" % (tls.server_address[1], plain.server_address[1], outer.getsockname()[1], single.getsockname()[1]))
        os.rename(directory + "/ports.tmp", directory + "/ports")
        threading.Event().wait()
        """#
}
