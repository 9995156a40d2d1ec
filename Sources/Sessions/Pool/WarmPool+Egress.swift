import Foundation
import SandboxPolicy

#if canImport(Glibc)
import Glibc
#endif

/// Egress for warm-pool containers: where their egress directories live and the forwarder they
/// bind. A slot of a profile that lists egress binds a directory of its own (made before the
/// container) and the forwarder, read-only, like a cold launch; its gate stays the entrypoint.
/// At claim time the session's proxy opens its socket in that directory (the allow list is the
/// session's, which may be narrower than the profile's) and the gate runs the session's command
/// behind the forwarder, with the proxy variables in its environment. A claim costs no mount and
/// no engine call more than one without egress.
public struct PoolEgress: Sendable, Equatable {
    /// The parent of the slots' egress directories, `<directory>/<slot id>`.
    public var directory: String
    /// The forwarder program on the host (`[egress] forwarder`).
    public var forwarder: String

    public init(directory: String, forwarder: String) {
        self.directory = directory
        self.forwarder = forwarder
    }

    /// What slot `slotID`'s container binds.
    func mount(slotID: String) -> EgressMount {
        EgressMount(socketDirectory: directory + "/" + slotID, forwarder: forwarder)
    }
}

extension WarmPool {
    /// Makes the egress directory of a new slot of `profile` and returns its binds; nil when the
    /// profile lists no egress, this pool has no egress configured or the forwarder is missing
    /// (the profile's egress sessions then launch cold, where a missing forwarder fails visibly).
    func makeEgressDirectory(for profile: SandboxProfile, slotID: String) async throws(PoolError) -> EgressMount? {
        guard !profile.egress.isEmpty, let egress = configuration.egress else { return nil }
        let mount = egress.mount(slotID: slotID)
        let made = try await onMountThread { () throws(PoolError) -> Bool in
            guard FileManager.default.isExecutableFile(atPath: egress.forwarder) else { return false }
            do {
                // The parent holds other slots' directories: traversable, not listable.
                try FileManager.default.createDirectory(
                    atPath: egress.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
            } catch {
                throw PoolError(.mount, "cannot create the pool's egress directory \(egress.directory): \(error)", underlying: error)
            }
            guard mkdir(mount.socketDirectory, 0o755) == 0 || errno == EEXIST else {
                throw PoolError(
                    .mount, "cannot create the egress directory \(mount.socketDirectory): \(String(cString: strerror(errno)))")
            }
            return true
        }
        guard made else {
            logger.warning(
                "the egress forwarder is missing (build it with scripts/build-gate); pool slots get no egress binds",
                metadata: ["egress.forwarder": "\(egress.forwarder)"])
            return nil
        }
        return mount
    }

    /// Deletes slot `slotID`'s egress directory and the socket a session may have left in it.
    func removeEgressDirectory(slotID: String) async {
        guard let egress = configuration.egress else { return }
        let directory = egress.mount(slotID: slotID).socketDirectory
        _ = try? await onMountThread { () throws(PoolError) in Self.removeEgressDirectory(directory) }
    }

    /// At start-up: deletes the egress directories of slots that are gone.
    func removeStaleEgressDirectories(keeping kept: Set<String>) async {
        guard let egress = configuration.egress else { return }
        let root = egress.directory
        _ = try? await onMountThread { () throws(PoolError) in
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] where !kept.contains(entry) {
                Self.removeEgressDirectory(root + "/" + entry)
            }
        }
    }

    /// The socket, then the directory (never recursively: nothing else is expected in it).
    static func removeEgressDirectory(_ directory: String) {
        _ = unlink(directory + "/" + EgressMount.socketName)
        _ = rmdir(directory)
    }
}
