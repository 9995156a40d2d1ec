import Foundation
import Testing

@testable import SandboxPolicy

@Suite("Session requests")
struct SessionRequestTests {
    func decode(_ json: String) throws(SessionRequestRejected) -> SessionLaunchRequest {
        try SessionLaunchRequest.decode(strictJSON: Data(json.utf8))
    }

    @Test("a well-formed request decodes")
    func decodes() throws {
        let request = try decode(
            """
            {"image": "sandcastle/agent:1.0", "profile": "default", "workspace": "demo", "command": ["bash", "-l"],
             "env": ["TERM=xterm-256color", "LANG=C.UTF-8"], "labels": {"team": "web"}, "ttlSeconds": 600,
             "idleTimeoutSeconds": null}
            """)
        var expected = sampleRequest()
        expected.ttlSeconds = 600
        #expect(request == expected)
    }

    @Test("engine fields are refused, each with its own reason")
    func engineFields() throws {
        let rejection = try #require(
            expectRejection {
                try decode(
                    """
                    {"image": "sandcastle/agent:1.0", "profile": "default", "workspace": "demo",
                     "Privileged": true, "network_mode": "host", "PidMode": "host", "ipc": "host", "UsernsMode": "host",
                     "Mounts": [{"Type": "bind", "Source": "/var/run/docker.sock", "Target": "/var/run/docker.sock"}],
                     "Binds": ["/:/host"], "Devices": [{"PathOnHost": "/dev/kvm"}], "CapAdd": ["SYS_ADMIN"],
                     "User": "0:0", "SecurityOpt": ["seccomp=unconfined"], "Runtime": "runc", "color": "blue"}
                    """)
            })
        let reasons = Dictionary(grouping: rejection.problems, by: \.field).mapValues { Set($0.map(\.reason)) }
        #expect(reasons["Privileged"] == [.privileged])
        #expect(reasons["network_mode"] == [.hostNamespace])
        #expect(reasons["PidMode"] == [.hostNamespace])
        #expect(reasons["ipc"] == [.hostNamespace])
        #expect(reasons["UsernsMode"] == [.hostNamespace])
        #expect(reasons["Mounts"] == [.extraMount, .dockerSocket])
        #expect(reasons["Binds"] == [.extraMount])
        #expect(reasons["Devices"] == [.device])
        #expect(reasons["CapAdd"] == [.capabilityNotGranted])
        #expect(reasons["User"] == [.userOverride, .rootUser])
        #expect(reasons["SecurityOpt"] == [.engineField])
        #expect(reasons["Runtime"] == [.engineField])
        #expect(reasons["color"] == [.unknownField])
    }

    @Test("wrong types and missing fields are each reported")
    func malformed() throws {
        let rejection = try #require(
            expectRejection {
                try decode(#"{"image": 5, "command": "ls", "env": ["A=1", 2], "labels": {"a": 1}}"#)
            })
        let fields = Set(rejection.problems.map(\.field))
        #expect(fields == ["image", "profile", "workspace", "command", "env[1]", "labels.a"])
        #expect(rejection.reasons == [.malformed])
        #expect(expectRejection { try decode("[1]") }?.reasons == [.malformed])
        #expect(expectRejection { try decode("{") }?.reasons == [.malformed])
    }

    @Test("the default profile approves the sample with its default limits")
    func approves() throws {
        let approved = try Shipped.policies.get().approve(sampleRequest())
        #expect(approved.profile.name == "default")
        #expect(approved.ttlSeconds == 14400)
        #expect(approved.idleTimeoutSeconds == 1800)
        #expect(approved.capabilities.isEmpty)
        #expect(approved.image.description == "sandcastle/agent:1.0")
    }

    @Test("image, workspace, limits and capabilities are checked against the profile")
    func refusals() throws {
        var request = sampleRequest()
        request.image = "docker.io/library/ubuntu:22.04"
        request.workspace = "../etc"
        request.ttlSeconds = 86401
        request.idleTimeoutSeconds = 0
        request.capabilities = ["SYS_PTRACE", "NOPE"]
        let profile = try Shipped.profile("default")
        let rejection = try #require(expectRejection { try profile.approve(request) })
        let reasons = Dictionary(grouping: rejection.problems, by: \.field).mapValues { $0.map(\.reason) }
        #expect(reasons["image"] == [.imageNotAllowed])
        #expect(reasons["workspace"] == [.invalidWorkspace])
        #expect(reasons["ttlSeconds"] == [.limitOutOfRange])
        #expect(reasons["idleTimeoutSeconds"] == [.limitOutOfRange])
        #expect(reasons["capabilities[0]"] == [.capabilityNotGranted])
        #expect(reasons["capabilities[1]"] == [.capabilityNotGranted])
        #expect(rejection.description.contains("profile default does not grant it"))
    }

    @Test("an unknown profile and a bare image name are refused")
    func unknownProfileAndBareImage() throws {
        var request = sampleRequest()
        request.profile = "turbo"
        #expect(expectRejection { try Shipped.policies.get().approve(request) }?.reasons == [.unknownProfile])
        request.profile = "default"
        request.image = "sandcastle/agent"
        #expect(expectRejection { try Shipped.policies.get().approve(request) }?.reasons == [.invalidImage])
    }

    @Test("the debug profile grants only what it lists; a request may narrow, not widen")
    func capabilitySubset() throws {
        let profile: SandboxProfile
        var request: SessionLaunchRequest
        (profile, request) = try debugGrantingPtrace()
        #expect(try profile.approve(request).capabilities == ["CAP_SYS_PTRACE"])
        request.capabilities = []
        #expect(try profile.approve(request).capabilities == [])
        request.capabilities = ["sys_ptrace"]
        #expect(try profile.approve(request).capabilities == ["CAP_SYS_PTRACE"])
    }

    @Test(
        "workspace names: one component of [A-Za-z0-9._-], never the Docker socket",
        arguments: [
            ("demo", nil), ("Team_1.repo-x", nil), (".", RequestProblem.Reason.invalidWorkspace),
            ("..", .invalidWorkspace),
            ("/etc", .invalidWorkspace), ("a/b", .invalidWorkspace), ("a\u{0}b", .invalidWorkspace),
            ("", .invalidWorkspace),
            (String(repeating: "a", count: 129), .invalidWorkspace), ("docker.sock", .dockerSocket),
            ("ünï", .invalidWorkspace),
        ])
    func workspaceNames(name: String, reason: RequestProblem.Reason?) throws {
        var request = sampleRequest()
        request.workspace = name
        let profile = try Shipped.profile("default")
        let rejection = expectRejectionIf(reason != nil) { try profile.approve(request) }
        #expect(rejection?.reasons == reason.map { [$0] })
    }

    @Test("env: KEY=VALUE, valid keys, no NUL, size and count limits, no duplicates")
    func environment() {
        #expect(RequestChecks.environment(["A=1", "_B2=", "PATH=/usr/bin:/bin", "X=a=b"]).isEmpty)
        let cases: [[String]] = [
            ["NOEQUALS"], ["1A=x"], ["A-B=x"], ["=x"], ["A=x\u{0}y"], ["A=1", "A=2"],
            ["BIG=" + String(repeating: "x", count: 32 << 10)],
            (0..<257).map { "K\($0)=v" },
            (0..<9).map { "K\($0)=" + String(repeating: "x", count: 30 << 10) },
        ]
        for entries in cases {
            let problems = RequestChecks.environment(entries)
            #expect(!problems.isEmpty && problems.allSatisfy { $0.reason == .invalidEnv }, "\(entries.prefix(2))")
        }
        #expect(RequestChecks.environment(["A=1", "A=2"]).map(\.field) == ["env[1]"])
    }

    @Test("labels: lower-case keys, bounded values and count")
    func labels() {
        #expect(RequestChecks.labels(["team": "web", "run.id-1_x": ""]).isEmpty)
        #expect(RequestChecks.labels(["Team": "x"]).map(\.reason) == [.invalidLabel])
        #expect(RequestChecks.labels(["a": String(repeating: "x", count: 1025)]).map(\.field) == ["labels.a"])
        #expect(RequestChecks.labels(Dictionary(uniqueKeysWithValues: (0..<65).map { ("k\($0)", "v") })).count == 1)
    }

    @Test("command: no NUL, bounded")
    func command() {
        #expect(RequestChecks.command(["sh", "-c", "echo hi"]).isEmpty)
        #expect(RequestChecks.command(["a\u{0}"]).map(\.field) == ["command[0]"])
        #expect(!RequestChecks.command([String(repeating: "x", count: 129 << 10)]).isEmpty)
    }

    @Test("docker.sock is found anywhere in a text, byte for byte")
    func dockerSocketMentions() {
        for text in ["docker.sock", "ddocker.sock", "/run/docker.sock.d", "x-docker.sock-y", "docker.sock\u{301}"] {
            #expect(EngineFieldRefusal.mentionsDockerSocket(text), "\(text)")
        }
        for text in ["", "docker.soc", "dockerXsock", "docker", "d", "Docker.sock", "docker.so ck"] {
            #expect(!EngineFieldRefusal.mentionsDockerSocket(text), "\(text)")
        }
    }
}
