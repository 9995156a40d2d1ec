import SandcastleClient

/// The exit codes scripts can rely on. Listed in `sandcastle --help` and the README.
public enum ExitStatus: Int32, Sendable, CaseIterable {
    case ok = 0
    /// Anything not listed below (an unexpected answer, an I/O error).
    case failure = 1
    /// Bad arguments or options.
    case usage = 2
    /// Nothing answers at the daemon's socket or URL.
    case daemonUnreachable = 3
    /// The session (or container) does not exist.
    case notFound = 4
    /// The API key is missing, wrong, or its role lacks the permission (401/403).
    case notAuthorized = 5
    /// The session is in the wrong state for this (409), e.g. attaching to an exited session.
    case conflict = 6
    /// The daemon refused the request as invalid or over a limit (400, 413, 422, 429).
    case rejected = 7
    /// `doctor` or `policy check` found problems.
    case checksFailed = 8

    static let help = """
        EXIT CODES:
          0  success
          1  unexpected failure
          2  usage error (bad arguments)
          3  the daemon is not reachable (not running, wrong socket or URL)
          4  not found (no such session)
          5  not authorized (missing or wrong API key, or its role lacks the permission)
          6  conflict (the session is in the wrong state, e.g. not running)
          7  rejected by the daemon (invalid request, over a limit, rate limited)
          8  checks failed (doctor, policy check)
        """
}

/// An error the CLI reports in one message and exits with a status for.
public struct CLIError: Error, CustomStringConvertible {
    public var status: ExitStatus
    public var message: String

    public init(_ status: ExitStatus, _ message: String) {
        self.status = status
        self.message = message
    }

    public var description: String { message }

    /// The message and exit status for any error a command throws.
    static func from(_ error: any Error) -> CLIError {
        if let error = error as? CLIError { return error }
        guard let error = error as? SandcastleClientError else { return CLIError(.failure, "\(error)") }
        switch error {
        case .daemonUnreachable(let address, let reason):
            switch address {
            case .unixSocket(let path):
                return CLIError(
                    .daemonUnreachable,
                    "the sandcastle daemon is not running at \(path) (\(reason)); start it with `systemctl start sandcastled` (or `scripts/daemon` in a checkout), or point --socket / SANDCASTLE_SOCKET at its socket"
                )
            case .tcp:
                return CLIError(
                    .daemonUnreachable,
                    "the sandcastle daemon is not reachable at \(address) (\(reason)); check that it runs with [api] tcp set to this address")
            }
        case .api(let status, _, _, _):
            let exit: ExitStatus =
                switch status {
                case 404: .notFound
                case 401, 403: .notAuthorized
                case 409: .conflict
                case 400, 413, 422, 429: .rejected
                default: .failure
                }
            var message = error.description
            if status == 401 {
                message += "\n  give a key with --api-key, SANDCASTLE_API_KEY or --api-key-file (as root on the daemon's host, its admin.key is used)"
            }
            return CLIError(exit, message)
        case .usage(let detail):
            return CLIError(.usage, detail)
        case .protocolViolation:
            return CLIError(.failure, error.description)
        }
    }
}
