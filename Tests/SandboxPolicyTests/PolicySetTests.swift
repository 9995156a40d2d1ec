import TOMLConfig
import Foundation
import Testing

@testable import SandboxPolicy

@Suite("Loading Policies/")
struct PolicySetTests {
    @Test("the shipped directory loads: default, small, large, debug")
    func shippedProfiles() throws {
        let policies = try Shipped.policies.get()
        #expect(Set(policies.profiles.keys) == ["default", "small", "large", "debug", "claude-code"])
    }

    @Test("default has the web tier's numbers")
    func defaultProfile() throws {
        let profile = try Shipped.profile("default")
        #expect(profile.memoryBytes == 512 << 20)
        #expect(profile.nanoCPUs == 500_000_000)
        #expect(profile.pidsLimit == 512)
        #expect(profile.openFilesLimit == 4096)
        #expect(profile.tmpSizeBytes == 256 << 20)
        #expect(profile.shmSizeBytes == 16 << 20)
        #expect(profile.workspaceSizeBytes == nil)
        #expect(profile.network == .none)
        #expect(profile.uids == UIDRange(first: 2_000_000, last: 2_999_999))
        #expect(profile.capabilities.isEmpty)
        #expect(profile.seccomp.file == "seccomp/sandbox.json")
        #expect(!profile.seccomp.allowsPtrace)
        #expect(profile.images.map(\.text) == ["sandcastle/*:*", "sandcastle/*@sha256:*"])
        #expect(profile.logs == LogLimits(maxSizeBytes: 1 << 20, maxFiles: 2))
        #expect(profile.idleTimeout == SessionLimit(defaultSeconds: 1800, maxSeconds: 7200))
        #expect(profile.ttl == SessionLimit(defaultSeconds: 14400, maxSeconds: 86400))
    }

    @Test("debug is default plus the ptrace switch, and nothing else differs in the filter")
    func debugProfile() throws {
        let debug = try Shipped.profile("debug")
        let base = try Shipped.profile("default")
        #expect(debug.seccomp.allowsPtrace)
        #expect(debug.seccomp.profile == SeccompInvariants.allowingPtrace(base.seccomp.profile))
        #expect(debug.memoryBytes == base.memoryBytes && debug.nanoCPUs == base.nanoCPUs)
        #expect(debug.capabilities.isEmpty)
        #expect(debug.seccomp.json.contains("\"ptrace\""))
        #expect(!base.seccomp.json.contains("\"ptrace\""))
    }

    @Test("small and large are smaller and larger than default")
    func tiers() throws {
        let (small, base, large) = (
            try Shipped.profile("small"), try Shipped.profile("default"), try Shipped.profile("large")
        )
        #expect(small.memoryBytes < base.memoryBytes && base.memoryBytes < large.memoryBytes)
        #expect(small.nanoCPUs < base.nanoCPUs && base.nanoCPUs < large.nanoCPUs)
        #expect(small.pidsLimit < base.pidsLimit && base.pidsLimit < large.pidsLimit)
        #expect(
            Set([small.uids, base.uids, large.uids]).count == 1,
            "one uid range, so a workspace keeps its uid across profiles")
    }

    @Test("an unknown key is refused with its name and file")
    func unknownKey() throws {
        let text = try defaultProfileText(replacing: [
            ("cpus = 0.5", "cpus = 0.5\nswap = \"1GiB\""), ("max_files = 2", "max_files = 2\nmode = 1"),
        ])
        let directory = try policyDirectory(["web.toml": text])
        let error = try #require(expectLoadError { _ = try PolicySet.load(directory: directory.path) })
        #expect(error.has(file: "/web.toml", field: "swap"))
        #expect(error.has(file: "/web.toml", field: "logs.mode"))
        #expect(error.problems.first { $0.field == "swap" }?.message.contains("unknown key") == true)
        #expect(error.description.contains("web.toml: swap"))
    }

    @Test("every problem of every file is reported, not just the first")
    func allProblems() throws {
        let bad = try defaultProfileText(replacing: [
            ("memory = \"512MiB\"", "memory = \"512MB\""),
            ("cpus = 0.5", "cpus = 0"),
            ("pids_limit = 512", "pids_limit = 0"),
            ("network = \"none\"", "network = \"host\""),
            ("first = 2000000", "first = 0"),
            ("add = []", "add = [\"SYS_PTRACE\", \"CAP_SYS_ADMIN\", \"CAP_NOPE\", \"19\", \"cap_chown,cap_kill\"]"),
            (
                "allow = [\"sandcastle/*:*\", \"sandcastle/*@sha256:*\"]",
                "allow = [\"sandcastle/agent\", \"*:*\", \"Bad/Name:1\"]"
            ),
            ("max_size = \"1MiB\"", "max_size = 1"),
            ("default_seconds = 1800", "default_seconds = 9000"),
        ])
        let other = try defaultProfileText(replacing: [
            ("profile = \"seccomp/sandbox.json\"", "profile = \"../etc/passwd.json\"")
        ])
        let directory = try policyDirectory(["bad.toml": bad, "other.toml": other])
        let error = try #require(expectLoadError { _ = try PolicySet.load(directory: directory.path) })
        for field in [
            "memory", "cpus", "pids_limit", "network", "uids.first", "capabilities.add[1]", "capabilities.add[2]",
            "capabilities.add[3]", "capabilities.add[4]", "images.allow[0]", "images.allow[1]", "images.allow[2]",
            "logs.max_size", "idle_timeout.default_seconds",
        ] {
            #expect(error.has(file: "/bad.toml", field: field), "\(field) not reported: \(error)")
        }
        #expect(!error.has(file: "/bad.toml", field: "capabilities.add[0]"), "SYS_PTRACE is a valid name")
        #expect(error.has(file: "/other.toml", field: "seccomp.profile"))
        #expect(error.problems.first { $0.field == "pids_limit" }?.value == "0")
    }

    @Test("a wrong seccomp file is reported under its own path, once for all profiles naming it")
    func badSeccompFile() throws {
        let seccomp = """
            {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read", "io_uring_setup", "opne"], "action": "SCMP_ACT_ALLOW"}]}
            """
        let text = try defaultProfileText()
        let directory = try policyDirectory(["a.toml": text, "b.toml": text], seccomp: seccomp)
        let error = try #require(expectLoadError { _ = try PolicySet.load(directory: directory.path) })
        let seccompProblems = error.problems.filter { $0.file.hasSuffix("seccomp/sandbox.json") }
        #expect(seccompProblems.map(\.field) == ["syscalls[0].names[2]", "syscalls[0].names[1]"])
        #expect(seccompProblems.contains { $0.value == "io_uring_setup" && $0.message.contains("never allows") })
    }

    @Test("a seccomp file that allows ptrace itself is refused: only allow_ptrace may")
    func ptraceInFile() throws {
        var shipped = try String(contentsOfFile: TestPaths.policies + "/seccomp/sandbox.json", encoding: .utf8)
        shipped = shipped.replacingOccurrences(of: "\"accept\",", with: "\"accept\", \"ptrace\",")
        let directory = try policyDirectory(["a.toml": try defaultProfileText()], seccomp: shipped)
        let error = try #require(expectLoadError { _ = try PolicySet.load(directory: directory.path) })
        #expect(error.problems.contains { $0.value == "ptrace" && $0.message.contains("allow_ptrace") })
    }

    @Test("invalid TOML names the line")
    func syntax() throws {
        let directory = try policyDirectory(["broken.toml": "memory = \n"])
        let error = try #require(expectLoadError { _ = try PolicySet.load(directory: directory.path) })
        #expect(error.problems.count == 1)
        #expect(error.problems.first?.message.contains("line 1") == true)
    }

    @Test("missing keys are each reported; an empty directory is refused")
    func missing() throws {
        let directory = try policyDirectory(["empty.toml": "description = \"nothing\"\n"])
        let error = try #require(expectLoadError { _ = try PolicySet.load(directory: directory.path) })
        let fields = Set(error.problems.map(\.field))
        #expect(
            fields.isSuperset(of: [
                "memory", "cpus", "pids_limit", "nofile", "tmp_size", "shm_size", "network", "uids", "seccomp",
                "images", "logs", "idle_timeout", "ttl",
            ]))
        let none = try policyDirectory([:])
        #expect(
            expectLoadError { _ = try PolicySet.load(directory: none.path) }?.problems.first?.message.contains(
                "no profiles") == true)
    }

    @Test("a uid range holding nobody (65534) or a bad profile file name is refused")
    func uidRangeAndName() throws {
        let text = try defaultProfileText(replacing: [
            ("first = 2000000", "first = 60000"), ("last = 2999999", "last = 70000"),
        ])
        let directory = try policyDirectory(["Bad Name.toml": text])
        let error = try #require(expectLoadError { _ = try PolicySet.load(directory: directory.path) })
        #expect(error.problems.contains { $0.field == "uids" && $0.message.contains("65534") })
        #expect(error.problems.contains { $0.field == "" && $0.value == "Bad Name" })
    }

    @Test("workspace_size parses (its refusal is the launch spec's)")
    func workspaceSize() throws {
        let text = try defaultProfileText(replacing: [("# workspace_size = \"2GiB\"", "workspace_size = \"2GiB\"")])
        let directory = try policyDirectory(["sized.toml": text])
        let policies = try PolicySet.load(directory: directory.path)
        #expect(policies.profile(named: "sized")?.workspaceSizeBytes == 2 << 30)
    }

    @Test("workspace_inodes parses, within 64 to 2^32-1")
    func workspaceInodes() throws {
        let text = try defaultProfileText(replacing: [("# workspace_inodes = 1000000", "workspace_inodes = 5000")])
        let directory = try policyDirectory(["files.toml": text])
        #expect(try PolicySet.load(directory: directory.path).profile(named: "files")?.workspaceInodes == 5000)
        #expect(try PolicySet.load(directory: directory.path).profile(named: "files")?.workspaceSizeBytes == nil)
        for bad in ["10", "5000000000", "\"many\""] {
            let wrong = try defaultProfileText(replacing: [("# workspace_inodes = 1000000", "workspace_inodes = \(bad)")])
            let badDirectory = try policyDirectory(["files.toml": wrong])
            let error = try #require(expectLoadError { _ = try PolicySet.load(directory: badDirectory.path) }, "\(bad)")
            #expect(error.problems.contains { $0.field == "workspace_inodes" }, "\(bad): \(error.problems)")
        }
    }

    @Test("granted capabilities are canonical")
    func capabilities() throws {
        let text = try defaultProfileText(replacing: [
            ("add = []", "add = [\"sys_ptrace\", \"CAP_SYS_PTRACE\", \"KILL\"]")
        ])
        let directory = try policyDirectory(["caps.toml": text])
        let profile = try #require(try PolicySet.load(directory: directory.path).profile(named: "caps"))
        #expect(profile.capabilities == ["CAP_SYS_PTRACE", "CAP_KILL"])
    }

    @Test("sizes: binary units or bytes, nothing else")
    func sizes() {
        #expect(ByteSize.parse("512MiB") == 512 << 20)
        #expect(ByteSize.parse("2 GiB") == 2 << 30)
        #expect(ByteSize.parse("64KiB") == 64 << 10)
        #expect(ByteSize.parse("10B") == 10)
        #expect(ByteSize.parse("512MB") == nil)
        #expect(ByteSize.parse("1.5GiB") == nil)
        #expect(ByteSize.parse("-1MiB") == nil)
        #expect(ByteSize.parse("99999999999999TiB") == nil)
        #expect(ByteSize.engineString(1 << 20) == "1m")
        #expect(ByteSize.engineString(1536 << 10) == "1536k")
        #expect(ByteSize.engineString(1000) == "1000")
    }

    @Test("libcap names: with or without CAP_, any case; numbers and lists refused")
    func capabilityNames() {
        #expect(Capabilities.canonicalName("CAP_SYS_PTRACE") == "CAP_SYS_PTRACE")
        #expect(Capabilities.canonicalName("sys_ptrace") == "CAP_SYS_PTRACE")
        #expect(Capabilities.canonicalName("NET_BIND_SERVICE") == "CAP_NET_BIND_SERVICE")
        #expect(Capabilities.canonicalName("CAP_NOPE") == nil)
        #expect(Capabilities.canonicalName("19") == nil)
        #expect(Capabilities.canonicalName("cap_chown,cap_kill") == nil)
        #expect(Capabilities.canonicalName("ALL") == nil)
        #expect(Capabilities.canonicalName("") == nil)
    }
}
