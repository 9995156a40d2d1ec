/// Why a call to the daemon failed: what failed, on what, and what to do.
public enum SandcastleClientError: Error, Sendable, CustomStringConvertible {
    /// Nothing answers at the daemon's address.
    case daemonUnreachable(address: DaemonAddress, reason: String)
    /// The daemon answered with an error (`{"error":{code,message,problems}}`).
    case api(status: Int, code: String, message: String, problems: [String])
    /// The daemon's answer was not what the API promises.
    case protocolViolation(String)
    /// A request the client refused to send.
    case usage(String)

    public var description: String {
        switch self {
        case .daemonUnreachable(let address, let reason):
            "the sandcastle daemon is not reachable at \(address) (\(reason))"
        case .api(let status, let code, let message, let problems):
            "\(message) [\(code), HTTP \(status)]" + problems.map { "\n  - \($0)" }.joined()
        case .protocolViolation(let detail):
            "unexpected answer from the daemon: \(detail)"
        case .usage(let detail):
            detail
        }
    }

    /// The HTTP status of an API error, if this is one.
    public var status: Int? {
        if case .api(let status, _, _, _) = self { return status }
        return nil
    }
}
