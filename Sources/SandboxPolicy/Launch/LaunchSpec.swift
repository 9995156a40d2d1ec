import TOMLConfig
import DockerEngine

/// The labels that mark a container as Sandcastle's.
public enum SandcastleLabels {
    public static let prefix = "dev.sandcastle."
    /// `true` on every container Sandcastle creates; reconciliation lists containers by it.
    public static let managed = "dev.sandcastle.managed"
    public static let session = "dev.sandcastle.session"
    public static let profile = "dev.sandcastle.profile"
    public static let workspace = "dev.sandcastle.workspace"
    /// The daemon instance that owns the container: reconciliation only touches its own.
    public static let instance = "dev.sandcastle.instance"
    /// Callers' labels go under this prefix, so they can never set one of ours.
    public static let callerPrefix = "dev.sandcastle.label."
}

/// Builds the engine's create body from an approved request: every field from the profile and the
/// workspace, as Policies/README.md lays out. Pure: no I/O.
public enum LaunchSpec {
    /// Where the workspace appears in the container, and the working directory.
    public static let workspaceTarget = "/workspace"
    /// The kernel's OOM killer picks sessions before the daemon.
    public static let oomScoreAdj = 500
    /// Added when the request sets no `HOME`: the image has no passwd entry for the workspace uid and
    /// the root filesystem is read-only, so the engine's default (`/`) leaves no writable home.
    public static let defaultHome = "HOME=/workspace"

    /// The create body for `approved`, bound to `workspace`, running as `user`, labelled with
    /// `sessionID` (already checked by the API: `SessionID` in SessionStore holds the one rule).
    /// A session with egress also gets `egress` (its proxy's directory and the forwarder).
    ///
    /// - Throws: `SessionRequestRejected` when an input is unsafe: root uid or gid, a uid outside the
    ///   profile's range, a workspace path that is not absolute and normalised or that overlaps the
    ///   Docker socket or a system directory, a profile value the engine would read as "unlimited",
    ///   or a profile size limit the workspace does not have in force.
    public static func containerConfig(
        for approved: ApprovedSession, workspace: WorkspaceMount, user: WorkspaceUser, sessionID: String,
        egress: EgressMount? = nil
    ) throws(SessionRequestRejected) -> ContainerConfig {
        let profile = approved.profile
        var problems = inputProblems(profile: profile, workspace: workspace, user: user)
        if !approved.egress.isEmpty && egress == nil {
            problems.append(
                RequestProblem(
                    .unsupported, field: "egress", value: approved.egress.description,
                    "this session has egress, and this daemon has no egress proxy for it"))
        }
        guard problems.isEmpty else { throw SessionRequestRejected(problems: problems) }
        let request = approved.request

        var env = request.env
        if !env.contains(where: { $0.hasPrefix("HOME=") }) { env.append(defaultHome) }
        var labels = Dictionary(
            uniqueKeysWithValues: request.labels.map { (SandcastleLabels.callerPrefix + $0.key, $0.value) })
        labels[SandcastleLabels.managed] = "true"
        labels[SandcastleLabels.session] = sessionID
        labels[SandcastleLabels.profile] = profile.name
        labels[SandcastleLabels.workspace] = request.workspace

        let hostConfig = HostConfig(
            privileged: false,
            capAdd: approved.capabilities.isEmpty ? nil : approved.capabilities,
            capDrop: ["ALL"],
            securityOpt: ["no-new-privileges:true", "seccomp=" + profile.seccomp.json],
            networkMode: "none",
            ipcMode: "private",
            cgroupnsMode: "private",
            readonlyRootfs: true,
            tmpfs: ["/tmp": "rw,nosuid,nodev,size=\(profile.tmpSizeBytes),uid=\(user.uid),gid=\(user.gid)"],
            mounts: [
                Mount(
                    type: .bind, source: workspace.hostPath, target: workspaceTarget, readOnly: false,
                    bindOptions: Mount.BindOptions(propagation: workspace.propagation))
            ],
            memory: profile.memoryBytes,
            memorySwap: profile.memoryBytes,
            memorySwappiness: 0,
            nanoCpus: profile.nanoCPUs,
            pidsLimit: profile.pidsLimit,
            ulimits: [
                Ulimit(name: "nofile", soft: profile.openFilesLimit, hard: profile.openFilesLimit),
                Ulimit(name: "core", soft: 0, hard: 0),
            ],
            oomScoreAdj: oomScoreAdj,
            logConfig: LogConfig(
                type: "json-file",
                config: [
                    "max-size": ByteSize.engineString(profile.logs.maxSizeBytes),
                    "max-file": String(profile.logs.maxFiles),
                ]),
            init: true,
            restartPolicy: RestartPolicy(name: "no"),
            autoRemove: false,
            shmSize: profile.shmSizeBytes
        )
        var config = ContainerConfig(
            user: user.description,
            attachStdin: true, attachStdout: true, attachStderr: true,
            tty: true, openStdin: true, stdinOnce: false,
            env: env,
            cmd: request.command.isEmpty ? nil : request.command,
            image: approved.image.description,
            workingDir: workspaceTarget,
            labels: labels,
            networkDisabled: true,
            hostConfig: hostConfig
        )
        if let egress, !approved.egress.isEmpty { egress.apply(to: &config) }
        return config
    }

    /// Approves `request` against `profile`, then builds its create body: the one call for a caller
    /// that does not need the approved TTL and idle timeout.
    public static func containerConfig(
        request: SessionLaunchRequest, profile: SandboxProfile, workspace: WorkspaceMount, user: WorkspaceUser,
        sessionID: String
    ) throws(SessionRequestRejected) -> ContainerConfig {
        try containerConfig(for: profile.approve(request), workspace: workspace, user: user, sessionID: sessionID)
    }

    static func inputProblems(profile: SandboxProfile, workspace: WorkspaceMount, user: WorkspaceUser) -> [RequestProblem] {
        var problems: [RequestProblem] = []
        if user.uid == 0 || user.gid == 0 {
            problems.append(
                RequestProblem(.rootUser, field: "user", value: user.description, "sandboxes never run as uid or gid 0")
            )
        } else if !profile.uids.contains(user.uid) || !profile.uids.contains(user.gid) {
            problems.append(
                RequestProblem(
                    .userOverride, field: "user", value: user.description,
                    "outside profile \(profile.name)'s uid range \(profile.uids); take the uid from the allocator"))
        }
        problems += workspaceProblems(workspace, profile: profile)
        let invariants: [(String, Int64)] = [
            ("pids_limit", profile.pidsLimit), ("memory", profile.memoryBytes), ("cpus", profile.nanoCPUs),
            ("nofile", profile.openFilesLimit), ("tmp_size", profile.tmpSizeBytes), ("shm_size", profile.shmSizeBytes),
        ]
        for (field, value) in invariants where value <= 0 {
            problems.append(
                RequestProblem(
                    .invalidProfile, field: field, value: String(value),
                    "must be > 0: the engine reads 0 or less as unlimited"))
        }
        if profile.network != .none {
            problems.append(
                RequestProblem(
                    .invalidProfile, field: "network", value: profile.network.rawValue, "only none is supported"))
        }
        return problems
    }

    private static func workspaceProblems(_ workspace: WorkspaceMount, profile: SandboxProfile) -> [RequestProblem] {
        var problems: [RequestProblem] = []
        let path = workspace.hostPath
        if !HostPathGuard.isNormalizedAbsolute(path) || path == "/" {
            problems.append(
                RequestProblem(
                    .invalidWorkspace, field: "workspace", value: path,
                    "must be the resolved absolute path, without . or .. or //"))
        } else {
            switch HostPathGuard.refusal(for: path) {
            case .dockerSocket(let socket):
                problems.append(
                    RequestProblem(
                        .dockerSocket, field: "workspace", value: path, "overlaps the Docker socket \(socket)"))
            case .systemTree(let tree):
                problems.append(
                    RequestProblem(
                        .invalidWorkspace, field: "workspace", value: path, "overlaps the system directory \(tree)"))
            case nil:
                break
            }
        }
        if let limit = profile.workspaceSizeBytes, workspace.enforcedSizeLimitBytes != limit {
            problems.append(
                RequestProblem(
                    .unsupported, field: "workspace_size", value: ByteSize.human(limit),
                    "profile \(profile.name) limits the workspace size, which is not supported on this host yet: "
                        + "configure a WorkspaceSizeLimiter, or remove workspace_size from the profile"))
        }
        return problems
    }
}
