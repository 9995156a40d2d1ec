import Foundation
import TOMLConfig

/// The warm pool's part of the configuration (`[pool]`, `[[pool.targets]]`).
///
/// ```toml
/// [pool]
/// root = "/var/lib/sandcastle/pool"      # slot directories; made a shared mount point
/// gate = "/usr/local/libexec/sandcastle/sandcastle-gate"
/// ready_timeout_seconds = 30
///
/// [[pool.targets]]
/// profile = "default"
/// image = "sandcastle/testbox:latest"
/// size = 8                 # 0 (the default for every profile) disables the pool
/// refill_per_minute = 120
/// ```
public struct PoolSettings: Sendable, Equatable {
    /// nil: `<state directory>/pool`.
    public var root: String?
    /// The gate program (built by `scripts/build-gate`).
    public var gate: String
    public var readyTimeoutSeconds: Int
    public var targets: [Target]

    /// One `[[pool.targets]]` entry: ready containers of `image` kept for sessions of `profile`.
    public struct Target: Sendable, Equatable {
        public var profile: String
        public var image: String
        /// Ready containers wanted; 0 disables the pool of this profile.
        public var size: Int
        /// Containers created per minute at most, to fill or refill.
        public var refillPerMinute: Int

        public init(profile: String, image: String, size: Int, refillPerMinute: Int) {
            self.profile = profile
            self.image = image
            self.size = size
            self.refillPerMinute = refillPerMinute
        }
    }

    /// The gate's default path: the installed one if present, else the build script's output in
    /// the current directory (the repository, as `scripts/daemon` runs it).
    public static func defaultGate(fileManager: FileManager = .default) -> String {
        let installed = "/usr/local/libexec/sandcastle/sandcastle-gate"
        if fileManager.fileExists(atPath: installed) { return installed }
        return fileManager.currentDirectoryPath + "/.build/sandcastle-gate/sandcastle-gate"
    }

    public static let defaultRefillPerMinute = 120

    public init(root: String? = nil, gate: String = PoolSettings.defaultGate(), readyTimeoutSeconds: Int = 30, targets: [Target] = []) {
        self.root = root
        self.gate = gate
        self.readyTimeoutSeconds = readyTimeoutSeconds
        self.targets = targets
    }

    /// Whether the file declares a pool (any `[[pool.targets]]` entry, even of size 0): the daemon
    /// then keeps what mounting needs (CAP_SYS_ADMIN, the mount system calls), and the admin API
    /// may grow the pool. Without one it drops them, and the API refuses a size above 0.
    public var isEnabled: Bool { !targets.isEmpty }
}

extension DaemonConfiguration {
    /// Where the pool's slot directories live: `[pool] root`, else `<state directory>/pool`.
    public var poolRoot: String { pool.root ?? stateDirectory + "/pool" }

    /// Reads `[pool]` into `config.pool`.
    static func parsePool(_ top: ConfigTable, into config: inout DaemonConfiguration, log: ProblemLog) {
        guard let pool = top.table("pool", required: false) else { return }
        defer { pool.refuseUnknownKeys() }
        if let value = pool.string("root", required: false) {
            if value.hasPrefix("/") { config.pool.root = value } else { log.report("pool.root", value: value, "must be an absolute path") }
        }
        if let value = pool.string("gate", required: false) {
            if value.hasPrefix("/") { config.pool.gate = value } else { log.report("pool.gate", value: value, "must be an absolute path") }
        }
        if let value = pool.integer("ready_timeout_seconds", required: false) {
            if (1...600).contains(value) { config.pool.readyTimeoutSeconds = Int(value) } else {
                log.report("pool.ready_timeout_seconds", value: String(value), "must be from 1 to 600")
            }
        }
        guard let targets = pool.tables("targets", required: false) else { return }
        var seen = Set<String>()
        config.pool.targets = targets.compactMap { table in
            defer { table.refuseUnknownKeys() }
            guard let profile = table.string("profile"), let image = table.string("image") else { return nil }
            let size = table.integer("size", required: false) ?? 0
            let refill = table.integer("refill_per_minute", required: false) ?? Int64(PoolSettings.defaultRefillPerMinute)
            var valid = true
            if !(0...256).contains(size) {
                log.report(table.field("size"), value: String(size), "must be from 0 to 256")
                valid = false
            }
            if !(1...6000).contains(refill) {
                log.report(table.field("refill_per_minute"), value: String(refill), "must be from 1 to 6000")
                valid = false
            }
            if !seen.insert(profile).inserted {
                log.report(table.field("profile"), value: profile, "a second pool for the same profile")
                valid = false
            }
            return valid ? PoolSettings.Target(profile: profile, image: image, size: Int(size), refillPerMinute: Int(refill)) : nil
        }
    }
}
