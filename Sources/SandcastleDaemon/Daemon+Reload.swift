import AccessControl
import Foundation
import HostHardening
import Logging
import SandboxPolicy
import SandcastleAPI
import SandcastleConfig
import ServiceLifecycle
import Sessions
import UnixSignals

extension Daemon {
    /// The API keys of `configuration`; with none configured, the local admin key of the state
    /// directory (made once).
    static func apiKeyring(for configuration: DaemonConfiguration, logger: Logger) throws -> APIKeyring {
        var entries = try configuration.apiKeys.map { entry in
            guard let role = Role(rawValue: entry.role) else { throw DaemonError.configuration("unknown role \(entry.role)") }
            return APIKeyEntry(name: entry.name, sha256: entry.sha256, role: role)
        }
        if entries.isEmpty {
            let admin = try DaemonState.bootstrapAdminKey(in: configuration.stateDirectory)
            entries = [admin.entry]
            logger.notice("no API keys configured: using the local admin key in \(admin.path)")
        }
        return try APIKeyring(entries: entries)
    }

    /// The attach-token signer of `configuration` (current and previous key, maximum TTL).
    static func attachSigner(for configuration: DaemonConfiguration) throws -> AttachTokenSigner {
        try AttachTokenSigner(
            current: DaemonState.signingKey(configured: configuration.attachTokenKey, in: configuration.stateDirectory),
            previous: configuration.attachTokenPreviousKey.flatMap(Hex.decode).map { try AttachSigningKey(bytes: $0) },
            maxTTL: .seconds(configuration.attachTokenMaxTTLSeconds))
    }

    /// What SIGHUP swaps: the policies, the API keys and the attach-token keys.
    struct Reloadable: Sendable {
        /// The configuration file, re-read on each reload; nil: the embedded defaults in force.
        var file: String?
        var running: DaemonConfiguration
        /// The policies the manager and the warm pool read.
        var policies: Swappable<PolicySet>
        var keys: KeyringBox
        var tokens: TokenSignerBox
        var notifier: SystemdNotifier?
        var logger: Logger

        /// Reloads each part on its own: a part that fails keeps what it had and says why. The
        /// other settings (listeners, paths, engine) need a restart; a change to them is logged.
        func reload() async {
            try? notifier?.reloading()
            defer { try? notifier?.ready(status: "reloaded") }
            logger.notice("SIGHUP: reloading policies and keys", metadata: ["config.file": "\(file ?? "(embedded defaults)")"])
            var configuration = running
            if let file {
                do {
                    // Over the embedded defaults, as at start-up: a key deleted from the file (the
                    // last API key, the previous token key once rotation is over) is gone after
                    // the reload, not kept from the running configuration.
                    configuration = try DaemonConfiguration.load(file: file)
                } catch {
                    logger.error("the configuration is invalid; keeping the keys and policies in force:\n\(error)")
                    return
                }
            }
            for (name, changed) in [
                ("api.socket", configuration.socketPath != running.socketPath),
                ("paths", configuration.stateDirectory != running.stateDirectory || configuration.workspaceRoot != running.workspaceRoot),
                ("engine.endpoint", configuration.engineEndpoint != running.engineEndpoint),
                ("threads.event_loops", configuration.eventLoops != running.eventLoops),
            ] where changed {
                logger.warning("\(name) changed in the configuration; it takes effect at the next restart")
            }
            do {
                let policies = try PolicySet.load(directory: configuration.policiesDirectory)
                self.policies.replace(policies)
                logger.notice("policies reloaded", metadata: ["policies.directory": "\(configuration.policiesDirectory)"])
            } catch {
                logger.error(
                    "the policies in \(configuration.policiesDirectory) are invalid; keeping the ones in force:\n\(error)")
            }
            do {
                keys.replace(try Daemon.apiKeyring(for: configuration, logger: logger))
                logger.notice("API keys reloaded", metadata: ["auth.keys": "\(keys.current.entries.count)"])
            } catch {
                logger.error("the API keys are invalid; keeping the ones in force: \(error)")
            }
            do {
                tokens.replace(try Daemon.attachSigner(for: configuration))
            } catch {
                logger.error("the attach-token keys are invalid; keeping the ones in force: \(error)")
            }
        }
    }

    /// Reloads on every SIGHUP until shutdown.
    struct ReloadService: Service {
        let reloadable: Reloadable

        func run() async throws {
            let hangups = await UnixSignalsSequence(trapping: .sighup)
            await cancelWhenGracefulShutdown {
                for await _ in hangups {
                    await reloadable.reload()
                }
            }
        }
    }
}
