import Foundation
import SandcastleTestSupport
import Testing

/// An installed daemon runs on a host where the tree it was built in is gone (built elsewhere,
/// or the checkout removed): nothing it needs at run time may be looked up there.
@Suite("The daemon away from its build tree, in Docker-in-Docker", .enabled(if: InDinD.canLaunch, "needs root on the host"))
struct DaemonAwayFromItsBuildTests {
    /// A copy of `sandcastled` runs in a mount namespace of its own inside the container, where an
    /// empty tmpfs covers the repository's `.build`; it starts, serves its OpenAPI document, and
    /// answers 405 from that document's routes.
    @Test func aCopyStartsAndServesItsDocumentWithoutTheBuildTree() async throws {
        let daemon = try SandcastledProcess.executable().path
        let repository = InDinD.repositoryRoot
        // Exit 3 only when all of it held; anything else prints the daemon's log.
        let script = """
            d=$(mktemp -d)
            cp '\(daemon)' "$d/sandcastled"
            cat > "$d/sandcastled.toml" <<EOF
            [api]
            socket = "$d/api.sock"
            socket_group = ""
            [engine]
            endpoint = "$DOCKER_HOST"
            [paths]
            state_directory = "$d/state"
            workspace_root = "$d/state/workspaces"
            policies = "\(repository)/Policies"
            EOF
            unshare --mount --propagation private sh -c \\
                "mount -t tmpfs none '\(repository)/.build' && exec '$d/sandcastled' --config '$d/sandcastled.toml'" \\
                >"$d/log" 2>&1 &
            daemon=$!
            fail() { echo "FAILED: $1"; cat "$d/log"; kill $daemon 2>/dev/null; exit "$2"; }
            for _ in $(seq 300); do [ -S "$d/api.sock" ] && break; kill -0 $daemon 2>/dev/null || break; sleep 0.1; done
            [ -S "$d/api.sock" ] || fail "the daemon did not listen" 20
            curl -sS --unix-socket "$d/api.sock" http://x/v1/openapi.json | grep -q '"openapi": "3.1.0"' ||
                fail "no OpenAPI document" 21
            code=$(curl -sS -o /dev/null -w '%{http_code}' -X PUT --unix-socket "$d/api.sock" http://x/v1/sessions)
            [ "$code" = 405 ] || fail "PUT /v1/sessions answered $code, not 405" 22
            kill $daemon
            exit 3
            """
        let run = try await InDinD.run(["run", "--", "/bin/bash", "-c", script], timeout: .seconds(300))
        #expect(run.status == 3, "exited \(run.status):\n\(run.output)")
        #expect(run.hostMounts.isClean, "the host's mount table changed: \(run.hostMounts)")
    }
}
