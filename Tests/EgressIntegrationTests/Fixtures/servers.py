# The egress tests' servers, run inside their network namespace by outside-world.
import http.server, os, socket, socketserver, ssl, subprocess, sys, threading

# Descriptors the test process left open (its output pipe) would keep it waiting for us.
os.closerange(3, 65536)

directory = sys.argv[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path.startswith("/git/"):
            return self.git()
        if self.path.startswith("/bytes/"):
            count = int(self.path.split("/")[2])
            self.send_response(200)
            self.send_header("Content-Length", str(count))
            self.end_headers()
            chunk = b"x" * 65536
            while count > 0:
                self.wfile.write(chunk[: min(count, len(chunk))])
                count -= len(chunk)
            return
        body = ("hello from %s over %s\n" % (self.headers.get("Host", "?"), self.server.scheme)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def git(self):
        # git's smart HTTP through git http-backend (CGI), read-only.
        path, _, query = self.path[len("/git"):].partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = dict(os.environ, GIT_PROJECT_ROOT=directory + "/git", GIT_HTTP_EXPORT_ALL="1", PATH_INFO=path,
                   QUERY_STRING=query, REQUEST_METHOD=self.command,
                   CONTENT_TYPE=self.headers.get("Content-Type", ""), CONTENT_LENGTH=str(length),
                   REMOTE_ADDR="198.51.100.1", GIT_PROTOCOL=self.headers.get("Git-Protocol", ""))
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.split(b"\r\n"):
            key, _, value = line.decode().partition(":")
            if key.lower() == "status":
                status = int(value.strip().split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def serve(port, tls):
    server = Server(("0.0.0.0", port), Handler)
    server.scheme = "https" if tls else "http"
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(directory + "/server.pem", directory + "/server.key")
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()


def silent(port):
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(64)
    held = []
    while True:
        held.append(listener.accept()[0])


for port, tls in ((443, True), (8443, True), (4443, True), (80, False)):
    serve(port, tls)
threading.Thread(target=silent, args=(9999,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
