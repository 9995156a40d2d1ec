import ArgumentParser
import Foundation
import SandcastleClient
import SandcastleConfig

/// How a command reaches the daemon: `--socket`, `--url`, an API key, and the daemon's
/// configuration (for its default socket and, on its host, its bootstrap admin key).
struct ConnectionOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The daemon's unix socket (env: SANDCASTLE_SOCKET).", valueName: "path"))
    var socket: String?

    @Option(name: .long, help: ArgumentHelp("The daemon over TCP, http://HOST:PORT (env: SANDCASTLE_URL).", valueName: "url"))
    var url: String?

    @Option(name: .long, help: ArgumentHelp("API key (env: SANDCASTLE_API_KEY). Prefer --api-key-file: arguments show in ps.", valueName: "key"))
    var apiKey: String?

    @Option(name: .long, help: ArgumentHelp("File holding the API key (env: SANDCASTLE_API_KEY_FILE).", valueName: "file"))
    var apiKeyFile: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The daemon's configuration, for its socket and state directory (env: SANDCASTLE_CONFIG; default /etc/sandcastle/sandcastled.toml if present, else the embedded defaults).",
            valueName: "file"))
    var config: String?

    /// The daemon configuration the CLI assumes: the file when given or installed, else the
    /// embedded defaults (the same rule as `sandcastled`).
    func daemonConfiguration(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DaemonConfiguration {
        guard let file = Self.configFile(config, environment: environment) else { return .defaults() }
        do {
            return try DaemonConfiguration.load(file: file)
        } catch {
            throw CLIError(.usage, "\(error)")
        }
    }

    static func configFile(_ option: String?, environment: [String: String]) -> String? {
        if let option { return option }
        if let value = environment["SANDCASTLE_CONFIG"], !value.isEmpty { return value }
        let installed = "/etc/sandcastle/sandcastled.toml"
        return FileManager.default.fileExists(atPath: installed) ? installed : nil
    }

    func address(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> DaemonAddress {
        if socket != nil, url != nil { throw CLIError(.usage, "give --socket or --url, not both") }
        if let socket { return try DaemonAddress(parsing: socket.hasPrefix("/") ? socket : FileManager.default.currentDirectoryPath + "/" + socket) }
        if let url { return try DaemonAddress(parsing: url) }
        if let value = environment["SANDCASTLE_SOCKET"], !value.isEmpty { return try DaemonAddress(parsing: value) }
        if let value = environment["SANDCASTLE_URL"], !value.isEmpty { return try DaemonAddress(parsing: value) }
        return .unixSocket(path: try daemonConfiguration(environment: environment).socketPath)
    }

    /// The key to send: given, from a file, or (on the daemon's unix socket) the daemon's own
    /// bootstrap admin key when this user can read it.
    func key(for address: DaemonAddress, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        if let apiKey { return apiKey }
        if let value = environment["SANDCASTLE_API_KEY"], !value.isEmpty { return value }
        if let file = apiKeyFile ?? environment["SANDCASTLE_API_KEY_FILE"].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw CLIError(.usage, "cannot read the API key file \(file)")
            }
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard case .unixSocket = address, let configuration = try? daemonConfiguration(environment: environment) else { return nil }
        let bootstrap = configuration.stateDirectory + "/admin.key"
        return (try? String(contentsOfFile: bootstrap, encoding: .utf8))
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            .flatMap { $0.isEmpty ? nil : $0 }
    }

    func client() throws -> SandcastleClient {
        let address = try address()
        return SandcastleClient(address: address, apiKey: try key(for: address))
    }
}
