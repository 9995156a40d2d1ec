import Foundation
import TOMLConfig

/// `[egress]`: the daemon's egress proxy, which carries what a profile's `[egress] allow` list
/// permits for sessions that have no network of their own.
///
/// ```toml
/// [egress]
/// directory = "/run/sandcastle/egress"   # per-session socket directories
/// forwarder = "/usr/local/libexec/sandcastle/sandcastle-egress-forward"
/// hosts_file = "/etc/sandcastle/egress-hosts"   # optional: names resolved without DNS
/// max_connections = 64        # per session, at once
/// idle_timeout_seconds = 300  # per tunnel
/// max_seconds = 3600          # per tunnel
/// connect_timeout_seconds = 10
/// ```
public struct EgressSettings: Sendable, Equatable {
    /// Where the per-session socket directories live; nil: `egress` beside the API socket (the
    /// daemon's run directory, `/run/sandcastle` for a system daemon).
    public var directory: String?
    /// The in-container forwarder (built by `scripts/build-gate`).
    public var forwarder: String
    /// An `/etc/hosts`-format file of names the proxy resolves without DNS (checked like any).
    public var hostsFile: String?
    public var maxConnections = 64
    public var idleTimeoutSeconds = 300
    public var maxSeconds = 3600
    public var connectTimeoutSeconds = 10

    /// The forwarder's default path: the installed one if present, else the build script's output
    /// in the current directory (a development checkout).
    public static func defaultForwarder(fileManager: FileManager = .default) -> String {
        let installed = "/usr/local/libexec/sandcastle/sandcastle-egress-forward"
        if fileManager.fileExists(atPath: installed) { return installed }
        return fileManager.currentDirectoryPath + "/.build/sandcastle-gate/sandcastle-egress-forward"
    }

    public init(forwarder: String = EgressSettings.defaultForwarder()) {
        self.forwarder = forwarder
    }
}

extension DaemonConfiguration {
    /// The per-session socket directories' parent.
    public var egressDirectory: String {
        egress.directory ?? (socketPath as NSString).deletingLastPathComponent + "/egress"
    }

    /// Reads `[egress]` into `config.egress`.
    static func parseEgress(_ top: ConfigTable, into config: inout DaemonConfiguration, log: ProblemLog) {
        guard let table = top.table("egress", required: false) else { return }
        defer { table.refuseUnknownKeys() }
        for (key, path) in [("directory", \EgressSettings.directory), ("hosts_file", \.hostsFile)] {
            if let value = table.string(key, required: false) {
                if value.isEmpty { config.egress[keyPath: path] = nil } else if value.hasPrefix("/") {
                    config.egress[keyPath: path] = value
                } else {
                    log.report(table.field(key), value: value, "must be an absolute path")
                }
            }
        }
        if let value = table.string("forwarder", required: false) {
            if value.hasPrefix("/") { config.egress.forwarder = value } else {
                log.report(table.field("forwarder"), value: value, "must be an absolute path")
            }
        }
        let limits: [(String, WritableKeyPath<EgressSettings, Int>, ClosedRange<Int64>)] = [
            ("max_connections", \.maxConnections, 1...100_000), ("idle_timeout_seconds", \.idleTimeoutSeconds, 1...86_400),
            ("max_seconds", \.maxSeconds, 1...604_800), ("connect_timeout_seconds", \.connectTimeoutSeconds, 1...600),
        ]
        for (key, path, range) in limits {
            guard let value = table.integer(key, required: false) else { continue }
            if range.contains(value) { config.egress[keyPath: path] = Int(value) } else {
                log.report(table.field(key), value: String(value), "must be from \(range.lowerBound) to \(range.upperBound)")
            }
        }
    }
}
