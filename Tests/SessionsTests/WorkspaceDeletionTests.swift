import Foundation
import Logging
import SandboxPolicy
import SandcastleTestSupport
import SessionStore
import Sessions
import Synchronization
import Testing
import Workspaces

/// A removal that deletes its workspace runs the deletion off the manager's actor; meanwhile no
/// session may be created on that workspace (its files would go with the tree being removed).
@Suite("Deleting a workspace, on the in-memory engine")
struct WorkspaceDeletionTests {
    /// A size limiter whose `release` (the first step of a deletion) waits until `open()`.
    final class HoldingLimiter: WorkspaceSizeLimiter {
        let entered = AsyncStream.makeStream(of: Void.self)
        private let gate = Mutex<(open: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

        func limit(_ workspace: ResolvedWorkspace, toBytes bytes: Int64, use: WorkspaceMount.Use)
            async throws(WorkspaceError) -> WorkspaceMount
        {
            throw WorkspaceError(.sizeLimitUnavailable, path: workspace.path, "no size limits in this test")
        }

        func release(workspace name: String, deletingImage: Bool) async throws(WorkspaceError) {
            entered.continuation.yield()
            await withCheckedContinuation { continuation in
                let resumeNow = gate.withLock { gate in
                    if gate.open { return true }
                    gate.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        }

        func open() {
            gate.withLock { gate in
                gate.open = true
                defer { gate.waiter = nil }
                return gate.waiter
            }?.resume()
        }
    }

    @Test func noSessionIsCreatedOnAWorkspaceBeingDeleted() async throws {
        let directory = try TemporaryDirectory()
        try directory.makeDirectory("workspaces")
        let limiter = HoldingLimiter()
        let manager = SessionManager(
            configuration: .init(daemonInstance: "deletion", stopGrace: .seconds(1)),
            engine: LimitedEngine(InMemoryEngine(), limit: 4),
            store: try SessionStore(.init(directory: directory.path + "/state", daemonInstance: "deletion")),
            policies: Swappable(try PolicySet.load(directory: ManagerFixture.policiesDirectory)),
            workspaces: try WorkspaceResolver(root: directory.path + "/workspaces"), sizeLimiter: limiter,
            logger: Logger(label: "test.deletion"))
        let request = SessionLaunchRequest(image: "sandcastle/testbox:latest", profile: "default", workspace: "w", command: ["sh"])
        _ = try await manager.create(id: "first", request: request, owner: "a")
        #expect(FileManager.default.fileExists(atPath: directory.path + "/workspaces/w"))

        let removal = Task { try await manager.remove("first", deleteWorkspace: true) }
        var entered = limiter.entered.stream.makeAsyncIterator()
        _ = await entered.next()
        // The deletion has begun (and waits): a create on that workspace is refused, not launched.
        let refused = await #expect(throws: SessionManagerError.self) {
            try await manager.create(id: "second", request: request, owner: "a")
        }
        #expect(refused?.code == .conflict)
        #expect(refused?.message.contains("being deleted") == true)

        limiter.open()
        try await removal.value
        #expect(!FileManager.default.fileExists(atPath: directory.path + "/workspaces/w"))
        // Once it is gone, the workspace can be made again.
        let (again, created) = try await manager.create(id: "third", request: request, owner: "a")
        #expect(created && again.state == .running)
    }
}
