import EgressPolicy

/// A sandbox profile from `Policies/<name>.toml`, validated: resource limits, the uid range, the
/// seccomp filter, the images it may run and the session time limits.
///
/// Profiles come from `PolicySet.load(directory:)`, which refuses any that is wrong; the launch spec
/// checks the values it depends on for safety once more before it uses them.
public struct SandboxProfile: Sendable, Equatable {
    /// The file name without `.toml`; requests name the profile by it.
    public internal(set) var name: String
    public internal(set) var summary: String?
    /// The memory limit; swap is always equal to it (no swap at all).
    public internal(set) var memoryBytes: Int64
    /// CPU quota in billionths of a CPU (`cpus = 0.5` is 500_000_000).
    public internal(set) var nanoCPUs: Int64
    /// Maximum tasks (processes and threads); always > 0, since 0 and -1 mean unlimited to Docker.
    public internal(set) var pidsLimit: Int64
    /// The `nofile` ulimit, soft and hard.
    public internal(set) var openFilesLimit: Int64
    /// Size of the `/tmp` tmpfs (it counts against the memory limit).
    public internal(set) var tmpSizeBytes: Int64
    /// Size of `/dev/shm` in the private IPC namespace.
    public internal(set) var shmSizeBytes: Int64
    /// A size limit for the workspace. Not enforced by the engine: see `WorkspaceMount`.
    public internal(set) var workspaceSizeBytes: Int64?
    public internal(set) var network: NetworkPolicy
    /// The range each workspace's own uid (and gid) comes from.
    public internal(set) var uids: UIDRange
    /// Capabilities the profile grants, canonical (`CAP_SYS_PTRACE`). Usually none.
    public internal(set) var capabilities: [String]
    public internal(set) var seccomp: SeccompSettings
    /// Images the profile may run; a request's image must match one.
    public internal(set) var images: [ImagePattern]
    public internal(set) var logs: LogLimits
    public internal(set) var idleTimeout: SessionLimit
    public internal(set) var ttl: SessionLimit
    /// A limit on the files and directories in the workspace (`workspace_inodes`); enforced, like
    /// `workspaceSizeBytes`, by the host's workspace quota backend.
    public internal(set) var workspaceInodes: Int64? = nil
    /// The destinations the daemon's egress proxy may reach for the profile's sessions; empty (the
    /// default) means none. The container's network stays `none` either way.
    public internal(set) var egress: EgressAllowList = EgressAllowList()
}

/// Only `none` exists for now: sandboxes have a loopback interface and nothing else.
public enum NetworkPolicy: String, Sendable, Equatable, CaseIterable {
    case none
}

/// The seccomp filter of a profile: the file it came from and the effective filter.
public struct SeccompSettings: Sendable, Equatable {
    /// The file, relative to the policy directory (`seccomp/sandbox.json`).
    public internal(set) var file: String
    /// Whether the profile switches on `ptrace` (and `process_vm_readv`/`process_vm_writev`).
    public internal(set) var allowsPtrace: Bool
    /// The filter as the engine will get it: the file plus what the switches add.
    public internal(set) var profile: SeccompProfile
    /// `profile` as minified JSON text: what goes into `SecurityOpt` after `seccomp=`.
    public internal(set) var json: String
}

/// `json-file` log rotation: at most `maxFiles` files of `maxSizeBytes` each.
public struct LogLimits: Sendable, Equatable {
    public internal(set) var maxSizeBytes: Int64
    public internal(set) var maxFiles: Int
}

/// A session time limit: what a session gets when the request says nothing, and the most a request
/// may ask for.
public struct SessionLimit: Sendable, Equatable {
    public internal(set) var defaultSeconds: Int
    public internal(set) var maxSeconds: Int

    /// The seconds a session gets: `requested` if given and within 1...max, else nil.
    func effective(_ requested: Int?) -> Int? {
        guard let requested else { return defaultSeconds }
        return (1...maxSeconds).contains(requested) ? requested : nil
    }
}
