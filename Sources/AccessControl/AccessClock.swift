import Foundation
import Synchronization

/// Where access control reads the time: the seam that lets tests move time.
///
/// Two readings, because the two consumers need different clocks:
/// - `now()` is wall time. Attach-token expiry is a unix timestamp that must mean the same thing
///   after a daemon restart, so it can only be wall time.
/// - `uptime()` is monotonic. Rate limiting measures elapsed time between requests; a wall clock
///   stepped backwards (NTP, an operator) would otherwise freeze refills, and a step forwards would
///   refill every bucket at once.
public protocol AccessClock: Sendable {
    /// Wall time.
    func now() -> Date
    /// Time elapsed since an arbitrary fixed point; never goes backwards, keeps counting while the
    /// machine sleeps.
    func uptime() -> Duration
}

/// The system's clocks: `Date()` and `ContinuousClock`.
public struct SystemAccessClock: AccessClock {
    private static let origin = ContinuousClock.now

    public init() {}

    public func now() -> Date { Date() }

    public func uptime() -> Duration { Self.origin.duration(to: ContinuousClock.now) }
}

/// A clock that moves only when told to, for tests (here and in the layers that use this library).
///
/// `advance(by:)` moves wall time and uptime together, as real time does; `setWallTime(_:)` steps
/// the wall clock alone, as NTP does.
public final class ManualAccessClock: AccessClock {
    private let state: Mutex<(wall: Date, uptime: Duration)>

    /// - Parameters:
    ///   - wallTime: the initial wall time; by default a fixed instant in 2023 with no fraction.
    ///   - uptime: the initial monotonic reading.
    public init(wallTime: Date = Date(timeIntervalSince1970: 1_700_000_000), uptime: Duration = .zero) {
        state = Mutex((wallTime, uptime))
    }

    public func now() -> Date { state.withLock { $0.wall } }

    public func uptime() -> Duration { state.withLock { $0.uptime } }

    /// Moves both readings forward by `duration` (a negative duration is ignored: uptime never
    /// goes backwards).
    public func advance(by duration: Duration) {
        guard duration > .zero else { return }
        state.withLock {
            $0.wall = $0.wall.addingTimeInterval(duration.seconds)
            $0.uptime += duration
        }
    }

    /// Steps the wall clock alone, to any instant; uptime is unchanged.
    public func setWallTime(_ date: Date) {
        state.withLock { $0.wall = date }
    }
}

extension Duration {
    /// This duration in seconds, as a `Double`.
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
