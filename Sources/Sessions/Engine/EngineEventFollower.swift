import DockerEngine
import Foundation
import Logging

/// Follows the engine's container events for Sandcastle's containers, for as long as the task
/// that runs it lives.
///
/// When the stream breaks (the engine restarts, the socket goes away) it reconnects with back-off.
/// After every (re)connection it first subscribes, then calls `resynchronise`, which compares the
/// store with a listing of the engine: whatever happened while no stream was open (an exit, a
/// removal) is found there, and whatever happens from then on arrives as an event. An event may be
/// seen both ways; handlers are idempotent.
struct EngineEventFollower: Sendable {
    let engine: any ContainerEngine
    let filters: DockerFilters
    let logger: Logger
    var backoff = Backoff()
    /// A stream that lasted this long counts as healthy: the back-off starts over.
    var healthyAfter: Duration = .seconds(10)

    /// The actions the session manager cares about.
    static let actions = ["start", "die", "oom", "destroy"]

    func run(
        onConnected: @Sendable (_ reconnected: Bool) async -> Void,
        onEvent: @Sendable (DockerEvent) async -> Void
    ) async {
        var backoff = self.backoff
        var reconnected = false
        while !Task.isCancelled {
            let began = ContinuousClock.now
            do {
                let events = try await engine.containerEvents(filters: filters, since: nil)
                await onConnected(reconnected)
                reconnected = true
                for try await event in events {
                    await onEvent(event)
                }
                if Task.isCancelled { return }
                logger.warning("the engine's event stream ended; reconnecting")
            } catch {
                if Task.isCancelled { return }
                logger.warning("the engine's event stream failed; reconnecting", metadata: ["error": "\(error)"])
            }
            reconnected = true
            if ContinuousClock.now - began >= healthyAfter { backoff.reset() }
            let delay = backoff.next()
            do {
                try await Task.sleep(for: delay)
            } catch {
                return
            }
        }
    }
}
