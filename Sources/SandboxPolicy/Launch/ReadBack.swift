import TOMLConfig
import DockerEngine
import Foundation

/// Compares a created container, as the engine reports it, with the create body we sent. The
/// daemon starts the container only when this finds nothing.
///
/// Comparisons are semantic, because the engine normalises on read-back (measured on 20.10):
/// `RestartPolicy` "no" may come back as "", capability names with or without `CAP_`, tmpfs options
/// in another order, unset lists as null, `MaskedPaths`/`ReadonlyPaths` filled with the engine's
/// defaults, `Env` and `Labels` merged with the image's.
public enum ReadBack {
    /// Paths every engine since 20.10 masks by default. An explicit `MaskedPaths` would replace
    /// them; the read-back must still contain them all.
    public static let requiredMaskedPaths: Set<String> = [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
        "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    ]
    /// Paths every engine since 20.10 makes read-only by default.
    public static let requiredReadonlyPaths: Set<String> = [
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
    ]

    /// Every difference between `inspected` and `expected` that matters to the policy, each named
    /// by its inspect field; empty when the container is as built.
    ///
    /// - Parameter resolvedWorkspace: the path `WorkspaceResolver` resolved; the only mount's source
    ///   must be exactly this.
    ///   - gate: for a warm-pool container (``LaunchSpec/poolContainerConfig(profile:image:slot:gate:slotID:)``):
    ///     the gate must be the entrypoint and its one read-only bind the second mount, and the user
    ///     `0:0` is expected (the gate switches); `resolvedWorkspace` is then the slot directory.
    ///   - egress: for a session with egress: the forwarder must be the entrypoint (the gate for a
    ///     pool container), and the socket directory and the forwarder its two read-only binds
    ///     besides the workspace (and the gate).
    public static func verify(
        inspected: InspectedContainer, expected: ContainerConfig, resolvedWorkspace: String, gate: GateMount? = nil,
        egress: EgressMount? = nil
    ) -> [PolicyViolation] {
        var check = Comparison()
        compareConfig(&check, inspected.config, expected, gate: gate)
        if let egress {
            // A pool container's entrypoint is the gate, which runs the forwarder at claim time.
            if gate == nil { check.same("Config.Entrypoint", [EgressMount.forwarderTarget], inspected.config.entrypoint ?? []) }
            if egress.socketDirectory.isEmpty || egress.forwarder.isEmpty { check.fail("egress", "host paths", "empty") }
        }
        compareHostConfig(&check, inspected.hostConfig, expected.hostConfig ?? HostConfig())
        compareMounts(
            &check, inspected, expected.hostConfig ?? HostConfig(), resolvedWorkspace: resolvedWorkspace, gate: gate,
            egress: egress)
        return check.violations
    }

    private static func compareConfig(
        _ check: inout Comparison, _ actual: ContainerConfig, _ expected: ContainerConfig, gate: GateMount?
    ) {
        check.same("Config.User", expected.user ?? "", actual.user ?? "")
        if let gate {
            // Root, but only the gate runs as root, with the capabilities it gives up before the
            // session's command runs; the read-back of CapAdd holds them to that set.
            check.same("Config.User", "0:0", actual.user ?? "")
            check.same("Config.Entrypoint", [GateMount.target], actual.entrypoint ?? [])
            if gate.hostPath.isEmpty { check.fail("gate", "a host path", "empty") }
        } else if ["", "0", "root"].contains((actual.user ?? "").split(separator: ":").first.map(String.init) ?? "") {
            check.fail("Config.User", "a non-root uid", actual.user ?? "(empty: root)")
        }
        check.same("Config.Image", expected.image ?? "", actual.image ?? "")
        check.same("Config.WorkingDir", expected.workingDir ?? "", actual.workingDir ?? "")
        check.same("Config.Cmd", expected.cmd ?? [], actual.cmd ?? [])
        check.same("Config.Tty", expected.tty ?? false, actual.tty ?? false)
        check.same("Config.OpenStdin", expected.openStdin ?? false, actual.openStdin ?? false)
        check.same("Config.StdinOnce", expected.stdinOnce ?? false, actual.stdinOnce ?? false)
        check.same("Config.AttachStdin", expected.attachStdin ?? false, actual.attachStdin ?? false)
        check.same("Config.AttachStdout", expected.attachStdout ?? false, actual.attachStdout ?? false)
        check.same("Config.AttachStderr", expected.attachStderr ?? false, actual.attachStderr ?? false)
        check.same("Config.NetworkDisabled", expected.networkDisabled ?? false, actual.networkDisabled ?? false)

        // The image's variables are merged in; ours must be there, unchanged.
        let actualEnv = Set(actual.env ?? [])
        for entry in expected.env ?? [] where !actualEnv.contains(entry) {
            check.fail("Config.Env", entry, "missing or changed")
        }
        // The image's labels are merged in; ours must win, and none of our prefix may be added.
        let actualLabels = actual.labels ?? [:]
        let expectedLabels = expected.labels ?? [:]
        for (key, value) in expectedLabels.sorted(by: { $0.key < $1.key }) where actualLabels[key] != value {
            check.fail("Config.Labels[\(key)]", value, actualLabels[key] ?? "missing")
        }
        for key in actualLabels.keys.sorted() where key.hasPrefix(SandcastleLabels.prefix) && expectedLabels[key] == nil
        {
            check.fail("Config.Labels[\(key)]", "absent (Sandcastle's prefix)", actualLabels[key] ?? "")
        }
    }

    private static func compareHostConfig(_ check: inout Comparison, _ actual: HostConfig, _ expected: HostConfig) {
        check.same("HostConfig.Privileged", false, actual.privileged ?? false)
        check.same("HostConfig.CapDrop", capabilitySet(expected.capDrop), capabilitySet(actual.capDrop))
        if !capabilitySet(actual.capDrop).contains("ALL") {
            check.fail("HostConfig.CapDrop", "contains ALL", describe(actual.capDrop))
        }
        check.same("HostConfig.CapAdd", capabilitySet(expected.capAdd), capabilitySet(actual.capAdd))
        compareSecurityOptions(&check, actual.securityOpt ?? [], expected.securityOpt ?? [])
        check.same("HostConfig.NetworkMode", "none", actual.networkMode ?? "")
        check.same("HostConfig.IpcMode", expected.ipcMode ?? "", actual.ipcMode ?? "")
        check.same("HostConfig.ShmSize", expected.shmSize ?? 0, actual.shmSize ?? 0)
        check.same("HostConfig.PidMode", "", actual.pidMode ?? "")
        check.same("HostConfig.UTSMode", "", actual.utsMode ?? "")
        check.same("HostConfig.UsernsMode", "", actual.usernsMode ?? "")
        check.same("HostConfig.CgroupnsMode", "private", actual.cgroupnsMode ?? "")
        check.same("HostConfig.ReadonlyRootfs", true, actual.readonlyRootfs ?? false)
        check.same("HostConfig.Tmpfs", tmpfsOptions(expected.tmpfs), tmpfsOptions(actual.tmpfs))
        check.empty("HostConfig.Binds", actual.binds)
        check.empty("HostConfig.VolumesFrom", actual.volumesFrom)
        check.same("HostConfig.Memory", expected.memory ?? 0, actual.memory ?? 0)
        check.same("HostConfig.MemorySwap", expected.memorySwap ?? 0, actual.memorySwap ?? 0)
        check.same("HostConfig.MemorySwap equals Memory", actual.memory ?? 0, actual.memorySwap ?? 0)
        check.same("HostConfig.MemorySwappiness", expected.memorySwappiness ?? -1, actual.memorySwappiness ?? -1)
        check.same("HostConfig.NanoCpus", expected.nanoCpus ?? 0, actual.nanoCpus ?? 0)
        check.same("HostConfig.PidsLimit", expected.pidsLimit ?? 0, actual.pidsLimit ?? 0)
        if (actual.pidsLimit ?? 0) <= 0 { check.fail("HostConfig.PidsLimit", "> 0", describe(actual.pidsLimit)) }
        check.same("HostConfig.Ulimits", ulimitList(expected.ulimits), ulimitList(actual.ulimits))
        if (actual.ulimits ?? []).contains(where: { $0.name == "nproc" }) {
            check.fail("HostConfig.Ulimits", "no nproc (it counts per host user)", "nproc set")
        }
        check.empty("HostConfig.Devices", actual.devices)
        check.empty("HostConfig.DeviceCgroupRules", actual.deviceCgroupRules)
        check.empty("HostConfig.GroupAdd", actual.groupAdd)
        check.same("HostConfig.OomKillDisable", false, actual.oomKillDisable ?? false)
        check.same("HostConfig.OomScoreAdj", expected.oomScoreAdj ?? 0, actual.oomScoreAdj ?? 0)
        check.same("HostConfig.LogConfig.Type", expected.logConfig?.type ?? "", actual.logConfig?.type ?? "")
        check.same("HostConfig.LogConfig.Config", expected.logConfig?.config ?? [:], actual.logConfig?.config ?? [:])
        check.same("HostConfig.Init", expected.`init` ?? false, actual.`init` ?? false)
        check.superset("HostConfig.MaskedPaths", required: requiredMaskedPaths, actual.maskedPaths)
        check.superset("HostConfig.ReadonlyPaths", required: requiredReadonlyPaths, actual.readonlyPaths)
        check.same("HostConfig.RestartPolicy.Name", "no", restartPolicyName(actual.restartPolicy))
        check.same("HostConfig.AutoRemove", false, actual.autoRemove ?? false)
        check.same("HostConfig.Sysctls", [:], actual.sysctls ?? [:])
        check.empty("HostConfig.ExtraHosts", actual.extraHosts)
        check.same("HostConfig.PortBindings", 0, actual.portBindings?.count ?? 0)
        check.same("HostConfig.PublishAllPorts", false, actual.publishAllPorts ?? false)
        if let runtime = expected.runtime { check.same("HostConfig.Runtime", runtime, actual.runtime ?? "") }
    }

    private static func compareMounts(
        _ check: inout Comparison, _ inspected: InspectedContainer, _ expected: HostConfig, resolvedWorkspace: String,
        gate: GateMount?, egress: EgressMount?
    ) {
        let expectedMount = expected.mounts?.first
        let expectedCount = 1 + (gate == nil ? 0 : 1) + (egress == nil ? 0 : 2)
        if expectedMount?.source != resolvedWorkspace || expected.mounts?.count != expectedCount {
            check.fail("expected HostConfig.Mounts", "one bind of \(resolvedWorkspace)", describe(expected.mounts))
        }
        let propagation = expectedMount?.bindOptions?.propagation ?? .rprivate
        var mounts = inspected.hostConfig.mounts ?? []
        var inspectedMounts = inspected.mounts
        if let gate {
            compareReadOnlyBind(&check, "gate", gate.hostPath, at: GateMount.target, host: &mounts, inspected: &inspectedMounts)
        }
        if let egress {
            compareReadOnlyBind(
                &check, "egress", egress.socketDirectory, at: EgressMount.directoryTarget, host: &mounts,
                inspected: &inspectedMounts)
            compareReadOnlyBind(
                &check, "egress-forward", egress.forwarder, at: EgressMount.forwarderTarget, host: &mounts,
                inspected: &inspectedMounts)
        }
        if mounts.count != 1 { check.fail("HostConfig.Mounts", "exactly one mount", "\(mounts.count)") }
        for (index, mount) in mounts.enumerated() {
            let field = "HostConfig.Mounts[\(index)]"
            check.same("\(field).Type", Mount.Kind.bind.rawValue, mount.type.rawValue)
            check.same("\(field).Source", resolvedWorkspace, mount.source ?? "")
            check.same("\(field).Target", LaunchSpec.workspaceTarget, mount.target)
            check.same("\(field).ReadOnly", false, mount.readOnly ?? false)
            check.same(
                "\(field).BindOptions.Propagation", propagation.rawValue, mount.bindOptions?.propagation?.rawValue ?? ""
            )
        }
        if inspectedMounts.count != 1 {
            check.fail("Mounts", "exactly one mount (the workspace)", "\(inspectedMounts.count)")
        }
        for (index, mount) in inspectedMounts.enumerated() {
            let field = "Mounts[\(index)]"
            guard mount.destination == LaunchSpec.workspaceTarget else {
                check.fail(
                    field, "no mount at \(mount.destination)",
                    "\(mount.type ?? "?") from \(mount.source ?? "?") (an image VOLUME?)")
                continue
            }
            check.same("\(field).Type", "bind", mount.type ?? "")
            check.same("\(field).Source", resolvedWorkspace, mount.source ?? "")
            check.same("\(field).RW", true, mount.rw ?? false)
            check.same("\(field).Propagation", propagation.rawValue, mount.propagation ?? "")
        }
    }

    /// Takes a read-only bind (the gate's, egress's) out of both mount lists after checking it: a
    /// read-only bind of `source` at `target`, exactly once in each.
    private static func compareReadOnlyBind(
        _ check: inout Comparison, _ name: String, _ source: String, at target: String, host: inout [Mount],
        inspected: inout [InspectedMount]
    ) {
        let hostBinds = host.filter { $0.target == target }
        host.removeAll { $0.target == target }
        if hostBinds.count != 1 { check.fail("HostConfig.Mounts[\(name)]", "one bind at \(target)", "\(hostBinds.count)") }
        for mount in hostBinds {
            check.same("HostConfig.Mounts[\(name)].Type", Mount.Kind.bind.rawValue, mount.type.rawValue)
            check.same("HostConfig.Mounts[\(name)].Source", source, mount.source ?? "")
            check.same("HostConfig.Mounts[\(name)].ReadOnly", true, mount.readOnly ?? false)
        }
        let inspectedBinds = inspected.filter { $0.destination == target }
        inspected.removeAll { $0.destination == target }
        if inspectedBinds.count != 1 { check.fail("Mounts[\(name)]", "one bind at \(target)", "\(inspectedBinds.count)") }
        for mount in inspectedBinds {
            check.same("Mounts[\(name)].Type", "bind", mount.type ?? "")
            check.same("Mounts[\(name)].Source", source, mount.source ?? "")
            check.same("Mounts[\(name)].RW", false, mount.rw ?? true)
        }
    }

    /// `SecurityOpt` must hold no-new-privileges and our seccomp profile (compared as a profile, not
    /// as text), and nothing else.
    private static func compareSecurityOptions(_ check: inout Comparison, _ actual: [String], _ expected: [String]) {
        let field = "HostConfig.SecurityOpt"
        let noNewPrivileges: Set<String> = ["no-new-privileges", "no-new-privileges:true", "no-new-privileges=true"]
        if !actual.contains(where: noNewPrivileges.contains) { check.fail(field, "no-new-privileges:true", "absent") }
        let expectedText = expected.compactMap(seccompText).first
        let actualSeccomp = actual.compactMap(seccompText)
        if actualSeccomp.count != 1 {
            check.fail(field, "one seccomp= entry", "\(actualSeccomp.count)")
        } else if actualSeccomp[0] == expectedText {
            // Byte for byte the filter that was sent. Decoding both (tens of KB of JSON each) was
            // most of a launch's CPU time in the daemon; only a text that differs is decoded.
        } else if let profile = decodeSeccomp(actualSeccomp[0]) {
            if profile != expectedText.flatMap(decodeSeccomp) { check.fail(field, "seccomp= the profile's filter", "a different filter") }
        } else {
            check.fail(field, "seccomp= the profile's filter", String(actualSeccomp[0].prefix(60)))
        }
        for option in actual where !noNewPrivileges.contains(option) && seccompText(option) == nil {
            check.fail(field, "only no-new-privileges and seccomp", option)
        }
    }

    private static func seccompText(_ option: String) -> String? {
        for prefix in ["seccomp=", "seccomp:"] where option.hasPrefix(prefix) {
            return String(option.dropFirst(prefix.count))
        }
        return nil
    }

    private static func decodeSeccomp(_ text: String) -> SeccompProfile? {
        SeccompProfile.parse(json: Data(text.utf8), log: ProblemLog())
    }

    private static func capabilitySet(_ names: [String]?) -> Set<String> {
        Set(
            (names ?? []).map { name in
                let upper = name.uppercased()
                return upper == "ALL" || upper.hasPrefix("CAP_") ? upper : "CAP_" + upper
            })
    }

    private static func tmpfsOptions(_ tmpfs: [String: String]?) -> [String: Set<Substring>] {
        (tmpfs ?? [:]).mapValues { Set($0.split(separator: ",")) }
    }

    private static func ulimitList(_ ulimits: [Ulimit]?) -> [String] {
        (ulimits ?? []).map { "\($0.name)=\($0.soft):\($0.hard)" }.sorted()
    }

    private static func restartPolicyName(_ policy: RestartPolicy?) -> String {
        let name = policy?.name ?? ""
        return name.isEmpty ? "no" : name
    }
}

/// Collects the violations of one read-back.
private struct Comparison {
    var violations: [PolicyViolation] = []

    mutating func fail(_ field: String, _ expected: String, _ actual: String) {
        violations.append(PolicyViolation(field: field, expected: expected, actual: actual))
    }

    mutating func same<T: Equatable>(_ field: String, _ expected: T, _ actual: T) {
        if expected != actual { fail(field, describe(expected), describe(actual)) }
    }

    mutating func empty<T>(_ field: String, _ actual: [T]?) {
        if let actual, !actual.isEmpty { fail(field + " non-empty", "empty", describe(actual)) }
    }

    mutating func superset(_ field: String, required: Set<String>, _ actual: [String]?) {
        let missing = required.subtracting(actual ?? [])
        if !missing.isEmpty { fail(field, "the engine's defaults", "missing \(missing.sorted())") }
    }
}

private func describe(_ value: Any?) -> String {
    guard let value else { return "null" }
    let text = String(describing: value)
    return text.count > 200 ? String(text.prefix(197)) + "..." : text
}
