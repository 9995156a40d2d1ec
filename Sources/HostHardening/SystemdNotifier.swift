import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// `sd_notify(3)` without libsystemd: one datagram per message to the unix socket systemd names
/// in `$NOTIFY_SOCKET`, a path or, with a leading `@`, an abstract name.
///
/// Sends never block (`MSG_DONTWAIT`): a service manager that does not read loses a status line,
/// the daemon never waits for it. Safe to use from any thread: the socket and the address are
/// fixed at creation and `sendto` on a datagram socket is atomic per message.
public final class SystemdNotifier: Sendable {
    /// The socket as named in the environment.
    public let socketName: String
    /// Half of `$WATCHDOG_USEC` when the watchdog is on for this process; nil otherwise.
    public let watchdogPingInterval: Duration?
    private let descriptor: Int32
    private let address: [UInt8]

    /// Reads `NOTIFY_SOCKET`, `WATCHDOG_USEC` and `WATCHDOG_PID` from `environment`; nil when
    /// there is no socket (not started by systemd with `Type=notify`).
    public init?(environment: [String: String] = ProcessInfo.processInfo.environment) throws(NotifyError) {
        guard let name = environment["NOTIFY_SOCKET"], !name.isEmpty else { return nil }
        var path = Array(name.utf8)
        if path.first == UInt8(ascii: "@") {
            path[0] = 0  // abstract namespace: a leading NUL, no terminator
        } else if path.first != UInt8(ascii: "/") {
            throw NotifyError(socket: name, problem: "NOTIFY_SOCKET must be an absolute path or start with @")
        }
        guard path.count < MemoryLayout.size(ofValue: sockaddr_un().sun_path) else {
            throw NotifyError(socket: name, problem: "the socket name is longer than a unix address allows")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw NotifyError(socket: name, problem: "socket(): \(String(cString: strerror(errno)))") }
        socketName = name
        descriptor = fd
        address = path
        if let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0,
            environment["WATCHDOG_PID"].map({ $0 == String(getpid()) }) ?? true
        {
            watchdogPingInterval = .microseconds(usec / 2)
        } else {
            watchdogPingInterval = nil
        }
    }

    deinit { close(descriptor) }

    /// Sends `READY=1`.
    public func ready(status: String? = nil) throws(NotifyError) { try send(["READY=1"] + (status.map { ["STATUS=" + $0] } ?? [])) }
    /// Sends `STOPPING=1`.
    public func stopping(status: String? = nil) throws(NotifyError) { try send(["STOPPING=1"] + (status.map { ["STATUS=" + $0] } ?? [])) }
    /// Sends `RELOADING=1` with `MONOTONIC_USEC=` (which systemd 253+ wants with it); follow with
    /// ``ready(status:)``.
    public func reloading() throws(NotifyError) {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        try send(["RELOADING=1", "MONOTONIC_USEC=\(UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000)"])
    }
    /// Sends `STATUS=`, one line of free text `systemctl status` shows.
    public func status(_ text: String) throws(NotifyError) { try send(["STATUS=" + text]) }
    /// Sends `WATCHDOG=1`.
    public func watchdogPing() throws(NotifyError) { try send(["WATCHDOG=1"]) }

    /// Sends `assignments` (`KEY=value`, no newlines inside) as one datagram.
    public func send(_ assignments: [String]) throws(NotifyError) {
        let message = Array(assignments.map { $0.replacingOccurrences(of: "\n", with: " ") }.joined(separator: "\n").utf8)
        var storage = sockaddr_un()
        storage.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &storage.sun_path) { raw in
            raw.copyBytes(from: address)
        }
        // An abstract name is exactly its bytes long; a path includes its terminating NUL.
        let length = MemoryLayout<sa_family_t>.size + address.count + (address.first == 0 ? 0 : 1)
        let sent = withUnsafePointer(to: &storage) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                message.withUnsafeBytes { bytes in
                    sendto(descriptor, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL), socketAddress, socklen_t(length))
                }
            }
        }
        guard sent == message.count else {
            throw NotifyError(socket: socketName, problem: "sendto(): \(String(cString: strerror(errno)))")
        }
    }
}

/// A notification that could not be sent: to which socket and why.
public struct NotifyError: Error, Sendable, CustomStringConvertible {
    public var socket: String
    public var problem: String

    public var description: String { "cannot notify systemd through \(socket): \(problem)" }
}
