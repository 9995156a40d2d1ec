import TOMLConfig
import Foundation

/// What the web tier asks for when it starts a session. It has no engine fields: privileges,
/// namespaces, mounts, devices and the user all come from the profile and the workspace, so a caller
/// cannot pass them through.
///
/// JSON keys are the property names. Decoding (through `decode(strictJSON:)` or any `Decoder`)
/// refuses unknown keys, naming each; engine fields get a reason of their own (`privileged`,
/// `hostNamespace`, `extraMount`, ...).
public struct SessionLaunchRequest: Sendable, Equatable, Encodable {
    /// `name:tag` or `name@sha256:...`; the profile must allow it.
    public var image: String
    /// The profile's name (`default`, `small`, ...).
    public var profile: String
    /// The workspace's name: one path component under the workspace root.
    public var workspace: String
    /// The command and its arguments; empty runs the image's default command.
    public var command: [String]
    /// `KEY=VALUE` entries.
    public var env: [String]
    /// The caller's own labels; they land under `dev.sandcastle.label.` on the container.
    public var labels: [String: String]
    /// Capabilities wanted, each of which the profile must grant; nil takes the profile's set.
    public var capabilities: [String]?
    /// Overrides the profile's default TTL, within its maximum.
    public var ttlSeconds: Int?
    /// Overrides the profile's default idle timeout, within its maximum.
    public var idleTimeoutSeconds: Int?
    /// Narrows the profile's egress allow list (`host:port` entries, each covered by one of the
    /// profile's); nil takes the profile's list, `[]` none.
    public var egress: [String]?

    public init(
        image: String, profile: String, workspace: String, command: [String] = [], env: [String] = [],
        labels: [String: String] = [:], capabilities: [String]? = nil, ttlSeconds: Int? = nil,
        idleTimeoutSeconds: Int? = nil, egress: [String]? = nil
    ) {
        self.image = image
        self.profile = profile
        self.workspace = workspace
        self.command = command
        self.env = env
        self.labels = labels
        self.capabilities = capabilities
        self.ttlSeconds = ttlSeconds
        self.idleTimeoutSeconds = idleTimeoutSeconds
        self.egress = egress
    }

    /// Decodes a request from JSON, refusing unknown keys (each one listed) and wrong types.
    public static func decode(strictJSON data: Data) throws(SessionRequestRejected) -> SessionLaunchRequest {
        try decode(strictJSON: data, extraStringKeys: []).request
    }

    /// Like `decode(strictJSON:)`, also accepting the string keys `extraStringKeys` that belong to
    /// the caller's envelope (the API's client-chosen session `id`), returned beside the request.
    public static func decode(strictJSON data: Data, extraStringKeys: Set<String>) throws(SessionRequestRejected)
        -> (request: SessionLaunchRequest, extras: [String: String])
    {
        let node: ConfigNode
        do {
            node = try ConfigNode(json: data)
        } catch {
            throw SessionRequestRejected(problems: [RequestProblem(.malformed, field: "", "not valid JSON: \(error)")])
        }
        return try parse(node, extraStringKeys: extraStringKeys)
    }

    static func parse(_ node: ConfigNode, extraStringKeys: Set<String> = []) throws(SessionRequestRejected)
        -> (request: SessionLaunchRequest, extras: [String: String])
    {
        let log = ProblemLog()
        guard let root = ConfigTable.root(node, log: log) else {
            throw SessionRequestRejected(problems: malformed(log))
        }
        var extras: [String: String] = [:]
        for key in extraStringKeys.sorted() {
            if let value = root.string(key, required: false) { extras[key] = value }
        }
        let image = root.string("image")
        let profile = root.string("profile")
        let workspace = root.string("workspace")
        let command = root.strings("command", required: false) ?? []
        let env = root.strings("env", required: false) ?? []
        let labels = root.table("labels", required: false).map { table in
            Dictionary(uniqueKeysWithValues: table.unreadKeys.compactMap { key in table.string(key).map { (key, $0) } })
        }
        let capabilities = root.strings("capabilities", required: false)
        let ttl = root.integer("ttlSeconds", required: false)
        let idle = root.integer("idleTimeoutSeconds", required: false)
        let egress = root.strings("egress", required: false)
        var problems = malformed(log)
        for key in root.unreadKeys {
            problems += EngineFieldRefusal.problems(forUnknownKey: key, value: root.node(key, required: false) ?? .null)
        }
        guard problems.isEmpty, let image, let profile, let workspace else {
            throw SessionRequestRejected(problems: problems)
        }
        let request = SessionLaunchRequest(
            image: image, profile: profile, workspace: workspace, command: command, env: env, labels: labels ?? [:],
            capabilities: capabilities, ttlSeconds: ttl.map { Int(clamping: $0) },
            idleTimeoutSeconds: idle.map { Int(clamping: $0) }, egress: egress)
        return (request, extras)
    }

    private static func malformed(_ log: ProblemLog) -> [RequestProblem] {
        log.entries.map { RequestProblem(.malformed, field: $0.field, value: $0.value, $0.message) }
    }
}

/// Names the refusal for a key a request does not have, so that an attempt to pass an engine field
/// through reads as what it is.
enum EngineFieldRefusal {
    private static let reasons: [String: (RequestProblem.Reason, String)] = {
        var table: [String: (RequestProblem.Reason, String)] = [:]
        func add(_ keys: [String], _ reason: RequestProblem.Reason, _ message: String) {
            for key in keys { table[key] = (reason, message) }
        }
        add(["privileged"], .privileged, "privileged mode is never allowed")
        add(
            [
                "networkmode", "network", "net", "pidmode", "pid", "ipcmode", "ipc", "usernsmode", "userns",
                "utsmode", "uts", "cgroupnsmode", "cgroupns", "networkdisabled",
            ],
            .hostNamespace, "namespaces are always private (network none); a request cannot choose them")
        add(
            ["mounts", "mount", "binds", "bind", "volumes", "volume", "volumesfrom", "tmpfs", "volumedriver"],
            .extraMount, "the workspace is the only mount; a request cannot add one")
        add(["devices", "device", "devicecgrouprules", "devicerequests", "gpus"], .device, "devices are never passed in")
        add(
            ["capadd", "capdrop", "caps"], .capabilityNotGranted,
            "capabilities come from the profile; list wanted ones in `capabilities`")
        add(["user", "uid", "gid", "groupadd", "groups"], .userOverride, "sessions run as their workspace's own uid")
        add(
            [
                "securityopt", "seccomp", "apparmor", "sysctls", "runtime", "hostconfig", "cgroupparent",
                "oomkilldisable", "oomscoreadj", "readonlyrootfs", "init", "entrypoint", "workingdir", "memory",
                "memoryswap", "nanocpus", "pidslimit", "ulimits", "shmsize", "logconfig", "restartpolicy",
                "autoremove", "maskedpaths", "readonlypaths", "extrahosts", "portbindings", "publishallports", "dns",
                "links",
            ],
            .engineField, "engine settings come from the profile; a request cannot set them")
        return table
    }()

    /// The problems for an unknown key: its reason, plus `dockerSocket` when its value names the
    /// Docker socket.
    static func problems(forUnknownKey key: String, value: ConfigNode) -> [RequestProblem] {
        let normalized = key.lowercased().filter { $0 != "_" && $0 != "-" }
        let (reason, message) =
            reasons[normalized] ?? (
                .unknownField,
                "unknown field; a request has image, profile, workspace, command, env, labels, capabilities, "
                    + "ttlSeconds, idleTimeoutSeconds and egress"
            )
        var problems = [RequestProblem(reason, field: key, value: value.rendered, message)]
        if reason == .userOverride, isRootUser(value) {
            problems.append(RequestProblem(.rootUser, field: key, value: value.rendered, "root is never allowed"))
        }
        if mentionsDockerSocket(value) {
            problems.append(
                RequestProblem(
                    .dockerSocket, field: key, value: value.rendered,
                    "the Docker socket is never reachable from a sandbox"))
        }
        return problems
    }

    private static func isRootUser(_ value: ConfigNode) -> Bool {
        switch value {
        case .integer(let uid): return uid == 0
        case .string(let text):
            let user = text.split(separator: ":", maxSplits: 1).first.map(String.init) ?? text
            return user == "0" || user == "root" || text.hasSuffix(":0") || text.hasSuffix(":root")
        default: return false
        }
    }

    static func mentionsDockerSocket(_ value: ConfigNode) -> Bool {
        switch value {
        case .string(let text): return mentionsDockerSocket(text)
        case .array(let values): return values.contains(where: mentionsDockerSocket)
        case .table(let entries): return entries.values.contains(where: mentionsDockerSocket)
        default: return false
        }
    }

    /// Whether `text` contains `docker.sock`, byte for byte. Foundation's `contains` cost 7,000
    /// instructions on every launch, and its matching by canonical equivalence can only find fewer
    /// matches of an ASCII needle than bytes do (none before a combining mark).
    static func mentionsDockerSocket(_ text: String) -> Bool {
        let bytes = text.utf8
        let needle = "docker.sock".utf8
        var from = bytes.startIndex
        while let start = bytes[from...].firstIndex(of: UInt8(ascii: "d")) {
            if bytes[start...].starts(with: needle) { return true }
            from = bytes.index(after: start)
        }
        return false
    }
}
