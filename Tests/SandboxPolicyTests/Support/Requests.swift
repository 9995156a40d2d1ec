import SandcastleTestSupport
import Testing

@testable import SandboxPolicy

/// A request the shipped default profile approves.
func sampleRequest() -> SessionLaunchRequest {
    SessionLaunchRequest(
        image: "sandcastle/agent:1.0", profile: "default", workspace: "demo", command: ["bash", "-l"],
        env: ["TERM=xterm-256color", "LANG=C.UTF-8"], labels: ["team": "web"])
}

/// The debug profile as if it granted CAP_SYS_PTRACE, and a request for it.
func debugGrantingPtrace() throws -> (SandboxProfile, SessionLaunchRequest) {
    var profile = try Shipped.profile("debug")
    profile.capabilities = ["CAP_SYS_PTRACE"]
    var request = sampleRequest()
    request.profile = "debug"
    return (profile, request)
}

/// Runs `body`, which must throw `SessionRequestRejected`, and returns the error.
func expectRejection<T>(_ body: () throws -> T, sourceLocation: SourceLocation = #_sourceLocation)
    -> SessionRequestRejected?
{
    expectError(SessionRequestRejected.self, { _ = try body() }, sourceLocation: sourceLocation)
}

/// `expectRejection` when `expected`, else runs `body` expecting success.
func expectRejectionIf<T>(_ expected: Bool, _ body: () throws -> T) -> SessionRequestRejected? {
    if expected { return expectRejection(body) }
    do {
        _ = try body()
    } catch {
        Issue.record("unexpected rejection: \(error)")
    }
    return nil
}
