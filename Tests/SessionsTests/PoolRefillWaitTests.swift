import Foundation
import SandboxPolicy
import SandcastleTestSupport
import SessionStore
import Testing

@testable import Sessions

/// The refill loop sleeps between passes until the pool changes: a claim or a new target wakes
/// it at once, and an idle pool does not wake it at all. The delays given here are an hour, so
/// only a change (or cancellation) can end a wait; `bounded` fails a test that would hang.
@Suite("Warm pool refill waits for changes")
struct PoolRefillWaitTests {
    static func pool(_ directory: TemporaryDirectory) throws -> WarmPool {
        let store = try SessionStore(.init(directory: directory.path + "/state", daemonInstance: "refill-wait"))
        return WarmPool(
            configuration: .init(
                root: directory.path + "/pool", gate: GateMount(hostPath: directory.path + "/gate"),
                daemonInstance: "refill-wait", canMount: false),
            engine: LimitedEngine(InMemoryEngine(), limit: 4), store: store, mounter: PoolLogicTests.RefusingMounter(),
            policies: Swappable(try PolicySet.load(directory: ManagerFixture.policiesDirectory)))
    }

    /// Waits for `task`, failing the test (and cancelling the task) instead of hanging when it
    /// has not ended within a minute.
    static func bounded(_ what: Comment, _ task: Task<Void, Never>) async {
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await withTaskCancellationHandler { await task.value } onCancel: { task.cancel() }
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .seconds(60))
                return false
            }
            defer { group.cancelAll() }
            return await group.next() ?? false
        }
        #expect(finished, what)
    }

    static let target = PoolTarget(profile: "default", image: "sandcastle/testbox:latest", size: 0, refillPerMinute: 60)

    @Test func aNewTargetWakesAWaitingRefill() async throws {
        let directory = try TemporaryDirectory()
        let pool = try Self.pool(directory)
        let waiting = Task { await pool.waitForChange(upTo: .seconds(3600)) }
        // Until the wait has begun, a change would only make it return at once; either way ends it.
        while await pool.changeWaiter == nil { await Task.yield() }
        try await pool.setTarget(Self.target)
        await Self.bounded("a new target ends the refill's wait", waiting)
    }

    @Test func aChangeBeforeTheWaitEndsItAtOnceAndOnlyOnce() async throws {
        let directory = try TemporaryDirectory()
        let pool = try Self.pool(directory)
        try await pool.setTarget(Self.target)
        await Self.bounded("a change reported before the wait ends it", Task { await pool.waitForChange(upTo: .seconds(3600)) })
        // That change is used up: the next wait sleeps until something else changes.
        let waiting = Task { await pool.waitForChange(upTo: .seconds(3600)) }
        while await pool.changeWaiter == nil { await Task.yield() }
        waiting.cancel()
        await Self.bounded("cancelling the refill ends its wait", waiting)
    }

    @Test func theWaitEndsWhenItsDelayHasPassed() async throws {
        let directory = try TemporaryDirectory()
        let pool = try Self.pool(directory)
        await Self.bounded("a wait of 10 ms ends by itself", Task { await pool.waitForChange(upTo: .milliseconds(10)) })
    }
}
