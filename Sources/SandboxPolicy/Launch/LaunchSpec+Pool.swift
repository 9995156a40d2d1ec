import DockerEngine

/// The gate program bound read-only into every warm-pool container (see `Gate/sandcastle-gate.c`).
public struct GateMount: Sendable, Equatable {
    /// Where the gate appears in the container; its first process.
    public static let target = "/.sandcastle/gate"
    /// The capabilities the gate holds until it switches to the workspace's uid, and only the
    /// gate: `SETUID`/`SETGID` to switch, `SETPCAP` to empty the bounding set and lock the
    /// securebits, `CHOWN` to give `/tmp` to the workspace user.
    public static let capabilities = ["CAP_CHOWN", "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID"]

    /// The gate's path on the host: absolute, normalised.
    public let hostPath: String

    public init(hostPath: String) {
        self.hostPath = hostPath
    }
}

extension LaunchSpec {
    /// The label that names a warm-pool container's slot (pool containers carry no session label:
    /// a slot's session is known only when it is claimed, and labels cannot change).
    public static let poolSlotLabel = "dev.sandcastle.pool-slot"

    /// The create body of a warm-pool container for `profile` and `image`: a session's body in
    /// every limit (resources, seccomp, no-new-privileges, no network, read-only root, logs, init),
    /// with four differences, each checked again by ``ReadBack/verify(inspected:expected:resolvedWorkspace:gate:)``:
    /// - the slot directory is bound at `/workspace` with `rslave` propagation (`slot.use` must be
    ///   `.poolSlot`), so a workspace mounted on the slot directory at claim time appears inside;
    /// - the gate is bound read-only at ``GateMount/target`` and is the entrypoint;
    /// - the user is `0:0` with ``GateMount/capabilities`` added, which the gate gives up (all of
    ///   them, bounding set included) before it runs the session's command as the workspace's uid;
    /// - `/tmp` has no owner yet: the gate gives it to the workspace's uid at claim time.
    ///
    /// With `egress` (a profile that lists egress), the slot's egress directory and the forwarder
    /// are bound read-only as for a cold launch; the gate stays the entrypoint and runs the
    /// forwarder at claim time, and the proxy opens the claiming session's socket in that
    /// directory, so the allow list is the session's, known only then.
    ///
    /// - Throws: `SessionRequestRejected` when the image is not allowed by the profile, or a
    ///   profile value is unsafe (as for a session).
    public static func poolContainerConfig(
        profile: SandboxProfile, image: String, slot: WorkspaceMount, gate: GateMount, slotID: String,
        egress: EgressMount? = nil
    ) throws(SessionRequestRejected) -> ContainerConfig {
        guard slot.use == .poolSlot else {
            throw SessionRequestRejected(problems: [
                RequestProblem(.invalidWorkspace, field: "workspace", value: slot.hostPath, "a pool slot must be bound rslave")
            ])
        }
        // No egress in the body: a slot's container is made before its session is known (the
        // binds are added below).
        let request = SessionLaunchRequest(image: image, profile: profile.name, workspace: "pool-slot", egress: [])
        let approved = try profile.approve(request)
        // Any uid of the profile passes the input checks; it is replaced below.
        let placeholder = WorkspaceUser(uid: profile.uids.first)
        var config = try containerConfig(for: approved, workspace: slot, user: placeholder, sessionID: slotID)
        config.user = "0:0"
        config.entrypoint = [GateMount.target]
        config.cmd = nil
        config.labels?[SandcastleLabels.session] = nil
        config.labels?[SandcastleLabels.workspace] = nil
        config.labels?[poolSlotLabel] = slotID
        var host = config.hostConfig ?? HostConfig()
        host.capAdd = Array(Set(approved.capabilities + GateMount.capabilities)).sorted()
        host.tmpfs = ["/tmp": "rw,nosuid,nodev,size=\(profile.tmpSizeBytes)"]
        host.mounts = (host.mounts ?? []) + [
            Mount(
                type: .bind, source: gate.hostPath, target: GateMount.target, readOnly: true,
                bindOptions: Mount.BindOptions(propagation: .rprivate))
        ]
        config.hostConfig = host
        egress?.addMounts(to: &config)
        return config
    }
}
