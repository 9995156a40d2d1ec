import SandboxPolicy

/// The resolver's calls for async code. Each one walks the file system path component by
/// component, and a workspace root on a slow or hung file system (a network mount) would hold
/// one of the cooperative pool's few threads, and with it every task queued behind it; so they
/// run on a queue of their own. Serial: each call is a handful of system calls.
private let resolverQueue = BlockingQueue(label: "sandcastle.workspaces.resolve")

extension WorkspaceResolver {
    /// ``resolve(_:creatingFor:)`` on the resolver's own queue, off the cooperative pool.
    public func resolve(_ name: String, creatingFor owner: WorkspaceUser? = nil) async throws(WorkspaceError)
        -> ResolvedWorkspace
    {
        try await resolverQueue.run { () throws(WorkspaceError) in try self.resolve(name, creatingFor: owner) }
    }
}

/// Deletions walk whole trees (a checkout's dependencies: tens of thousands of entries), so they
/// have a queue of their own: no launch's resolve waits behind one.
private let deletionQueue = BlockingQueue(label: "sandcastle.workspaces.delete")

extension WorkspaceResolver {
    /// ``delete(_:)`` on a queue of its own, off the cooperative pool.
    @discardableResult
    public func delete(_ name: String) async throws(WorkspaceError) -> Bool {
        try await deletionQueue.run { () throws(WorkspaceError) in try self.delete(name) }
    }
}

extension ResolvedWorkspace {
    /// ``verifyUnchanged()`` on the resolver's own queue, off the cooperative pool.
    public func verifyUnchanged() async throws(WorkspaceError) {
        try await resolverQueue.run { () throws(WorkspaceError) in try self.verifyUnchanged() }
    }
}
