/// Why a benchmark run could not go on: what failed, and on what.
public enum BenchError: Error, Sendable, CustomStringConvertible {
    /// The daemon refused or failed a call, or could not be started.
    case daemon(String)
    /// The terminal (WebSocket or raw attach) did not behave as the measurement needs.
    case terminal(String)
    /// The options cannot be used.
    case usage(String)

    public var description: String {
        switch self {
        case .daemon(let detail): "daemon: \(detail)"
        case .terminal(let detail): "terminal: \(detail)"
        case .usage(let detail): "usage: \(detail)"
        }
    }
}
