import EgressPolicy
import TOMLConfig

extension SandboxProfile {
    /// Reads a profile document, reporting every problem to `log` with its field path, and returns
    /// the profile when there was none.
    ///
    /// - Parameter seccomp: resolves the `seccomp.profile` path to the checked seccomp profile (it
    ///   reports that file's own problems), or nil.
    static func parse(
        name: String, document: ConfigNode, log: ProblemLog,
        seccomp resolveSeccomp: (_ path: String, _ field: String) -> SeccompProfile?
    ) -> SandboxProfile? {
        if !isValidProfileName(name) {
            log.report("", value: name, "a profile's file name must be [a-z0-9][a-z0-9_-]* (at most 64) plus .toml")
        }
        guard let root = ConfigTable.root(document, log: log) else { return nil }
        let summary = root.string("description", required: false)
        let memory = root.byteSize("memory").flatMap {
            root.check($0, "memory", in: 16 << 20...Int64.max, "at least 16 MiB")
        }
        let cpus = root.number("cpus").flatMap { cpus -> Int64? in
            guard cpus.isFinite, cpus >= 0.01, cpus <= 1024 else {
                root.log.report("cpus", value: String(cpus), "must be from 0.01 to 1024 (CPUs, fractions allowed)")
                return nil
            }
            return Int64((cpus * 1e9).rounded())
        }
        let pids = root.integer("pids_limit").flatMap {
            root.check(
                $0, "pids_limit", in: 1...4_194_304, "must be from 1 to 4194304: 0 and -1 mean unlimited to the engine")
        }
        let nofile = root.integer("nofile").flatMap {
            root.check($0, "nofile", in: 64...1_048_576, "must be from 64 to 1048576")
        }
        let tmpSize = root.byteSize("tmp_size").flatMap {
            root.check($0, "tmp_size", in: 1 << 20...Int64.max, "at least 1 MiB")
        }
        let shmSize = root.byteSize("shm_size").flatMap {
            root.check($0, "shm_size", in: 1 << 20...Int64.max, "at least 1 MiB")
        }
        let workspaceSize = root.byteSize("workspace_size", required: false).flatMap {
            root.check($0, "workspace_size", in: 16 << 20...Int64.max, "at least 16 MiB")
        }
        let workspaceInodes = root.integer("workspace_inodes", required: false).flatMap {
            root.check($0, "workspace_inodes", in: 64...Int64(UInt32.max), "must be from 64 to 4294967295")
        }
        let network = root.string("network").flatMap { text -> NetworkPolicy? in
            if let network = NetworkPolicy(rawValue: text) { return network }
            root.log.report("network", value: text, "only \"none\" is supported: sandboxes have no network")
            return nil
        }
        let uids = root.table("uids").flatMap(parseUIDs)
        let capabilities = parseCapabilities(root.table("capabilities", required: false))
        let seccompTable = root.table("seccomp")
        let seccompFile = seccompTable?.string("profile")
        let allowsPtrace = seccompTable?.bool("allow_ptrace", required: false) ?? false
        seccompTable?.refuseUnknownKeys()
        let seccompProfile = seccompFile.flatMap { resolveSeccomp($0, "seccomp.profile") }
        let images = root.table("images").flatMap(parseImages)
        let logs = root.table("logs").flatMap(parseLogs)
        let idleTimeout = root.table("idle_timeout").flatMap(parseSessionLimit)
        let ttl = root.table("ttl").flatMap(parseSessionLimit)
        let egress = root.table("egress", required: false).map(parseEgress) ?? EgressAllowList()
        root.refuseUnknownKeys()

        guard log.isEmpty, let memory, let cpus, let pids, let nofile, let tmpSize, let shmSize, let network,
            let uids, let capabilities, let seccompFile, let seccompProfile, let images, let logs, let idleTimeout,
            let ttl
        else { return nil }
        let effective = allowsPtrace ? SeccompInvariants.allowingPtrace(seccompProfile) : seccompProfile
        return SandboxProfile(
            name: name, summary: summary, memoryBytes: memory, nanoCPUs: cpus, pidsLimit: pids,
            openFilesLimit: nofile, tmpSizeBytes: tmpSize, shmSizeBytes: shmSize, workspaceSizeBytes: workspaceSize,
            network: network, uids: uids, capabilities: capabilities,
            seccomp: SeccompSettings(
                file: seccompFile, allowsPtrace: allowsPtrace, profile: effective, json: effective.minifiedJSON),
            images: images, logs: logs, idleTimeout: idleTimeout, ttl: ttl, workspaceInodes: workspaceInodes,
            egress: egress)
    }

    static func isValidProfileName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 64, first.isLowerAlnum else { return false }
        return bytes.allSatisfy { $0.isLowerAlnum || $0.isOne(of: "_-") }
    }

    private static func parseUIDs(_ table: ConfigTable) -> UIDRange? {
        let bounds = ["first", "last"].map { key in
            table.integer(key).flatMap {
                table.check(
                    $0, table.field(key), in: 1000...4_294_967_294,
                    "must be from 1000 to 4294967294: a non-root uid no system account uses")
            }
        }
        table.refuseUnknownKeys()
        guard let first = bounds[0], let last = bounds[1] else { return nil }
        guard let range = UIDRange(first: UInt32(first), last: UInt32(last)) else {
            table.log.report(table.path, value: "\(first)...\(last)", "first must not be greater than last")
            return nil
        }
        for special: UInt32 in [65534, 65535] where range.contains(special) {
            table.log.report(
                table.path, value: "\(first)...\(last)",
                "contains \(special) (nobody / the overflow uid); choose a range that avoids it")
        }
        return range
    }

    private static func parseCapabilities(_ table: ConfigTable?) -> [String]? {
        guard let table else { return [] }
        let names = table.strings("add") ?? []
        table.refuseUnknownKeys()
        var canonical: [String] = []
        for (index, name) in names.enumerated() {
            let field = "\(table.field("add"))[\(index)]"
            guard let capability = Capabilities.canonicalName(name) else {
                table.log.report(field, value: name, "libcap does not know this capability; write e.g. CAP_SYS_PTRACE")
                continue
            }
            if Capabilities.neverGranted.contains(capability) {
                table.log.report(
                    field, value: name, "Sandcastle never grants \(capability): it opens a way out of the sandbox")
            } else if !canonical.contains(capability) {
                canonical.append(capability)
            }
        }
        return canonical
    }

    private static func parseImages(_ table: ConfigTable) -> [ImagePattern]? {
        let texts = table.strings("allow")
        table.refuseUnknownKeys()
        guard let texts else { return nil }
        if texts.isEmpty { table.log.report(table.field("allow"), "empty; list the images this profile may run") }
        return texts.enumerated().compactMap { index, text in
            switch ImagePattern.parse(text) {
            case .success(let pattern):
                return pattern
            case .failure(let error):
                table.log.report("\(table.field("allow"))[\(index)]", value: text, error.message)
                return nil
            }
        }
    }

    /// `[egress] allow = ["host:port", ...]`: each entry checked, a bad one reported at
    /// `egress.allow[i]` with its reason (the loader adds the line).
    private static func parseEgress(_ table: ConfigTable) -> EgressAllowList {
        let entries = table.strings("allow") ?? []
        table.refuseUnknownKeys()
        switch EgressAllowList.parse(entries) {
        case .success(let list):
            return list
        case .failure(let error):
            for problem in error.problems {
                table.log.report("\(table.field("allow"))[\(problem.index)]", value: entries[problem.index], problem.reason)
            }
            return EgressAllowList()
        }
    }

    private static func parseLogs(_ table: ConfigTable) -> LogLimits? {
        let size = table.byteSize("max_size").flatMap {
            table.check($0, table.field("max_size"), in: 64 << 10...1 << 30, "must be from 64 KiB to 1 GiB")
        }
        let files = table.integer("max_files").flatMap {
            table.check($0, table.field("max_files"), in: 1...100, "must be from 1 to 100")
        }
        table.refuseUnknownKeys()
        guard let size, let files else { return nil }
        return LogLimits(maxSizeBytes: size, maxFiles: Int(files))
    }

    private static func parseSessionLimit(_ table: ConfigTable) -> SessionLimit? {
        let week: Int64 = 7 * 24 * 3600
        let values = ["default_seconds", "max_seconds"].map { key in
            table.integer(key).flatMap {
                table.check($0, table.field(key), in: 1...week, "must be from 1 second to one week")
            }
        }
        table.refuseUnknownKeys()
        guard let defaultSeconds = values[0], let maxSeconds = values[1] else { return nil }
        guard defaultSeconds <= maxSeconds else {
            table.log.report(
                table.field("default_seconds"), value: String(defaultSeconds),
                "greater than max_seconds (\(maxSeconds)); the default must be allowed")
            return nil
        }
        return SessionLimit(defaultSeconds: Int(defaultSeconds), maxSeconds: Int(maxSeconds))
    }
}

extension ConfigTable {
    /// `value` if it is in `range`, else nil after reporting `rule` at `field`.
    func check(_ value: Int64, _ field: String, in range: ClosedRange<Int64>, _ rule: String) -> Int64? {
        if range.contains(value) { return value }
        log.report(field, value: String(value), rule)
        return nil
    }
}
