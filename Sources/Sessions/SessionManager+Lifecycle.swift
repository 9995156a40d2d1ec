import DockerEngine
import Foundation
import SandboxPolicy
import SessionStore
import Workspaces

extension SessionManager {
    /// Stops a running session: SIGTERM, then SIGKILL after the grace period. The container stays
    /// (its exit code and logs remain readable) until the session is removed.
    ///
    /// - Parameter reason: recorded as the exit reason (`stopped`, or `ttl`/`idle` from the reaper).
    @discardableResult
    public func stop(_ id: String, reason: ExitReason = .stopped, grace: Duration? = nil) async throws -> Session {
        let current = try await session(id)
        switch current.state {
        case .exited, .failed, .removed:
            return current
        case .creating, .starting:
            throw SessionManagerError(
                .conflict, "session \(id) is still launching (\(current.state)); stop it once it runs", sessionID: id)
        case .running, .stopping:
            break
        }
        let stopping: Session
        do {
            stopping = try await store.transition(
                id: id, from: [.running, .stopping], to: .stopping, at: clock.now(),
                event: NewEvent(type: .sessionStopped, sessionID: id, payload: Self.payload(["reason": reason.rawValue]))
            ) { $0.exitReason = reason }
        } catch let error as SessionStoreError where error.code == .illegalTransition {
            // Already stopping (no self-transition), or it exited meanwhile.
            guard let latest = try? await store.session(id: id) else { throw error }
            if latest.state != .stopping { return latest }
            stopping = latest
        } catch {
            throw SessionManagerError.store(error, "stopping session \(id)", sessionID: id)
        }
        guard let containerID = stopping.containerID else {
            return try await finishExit(id: id, containerID: nil)
        }
        do {
            try await engine.stopContainer(containerID, timeout: grace ?? configuration.stopGrace)
        } catch let error as DockerError where error.code == .notFound {
            return try await finishExit(id: id, containerID: nil)
        } catch {
            throw SessionManagerError(.engine, "stopping the container of session \(id) failed: \(error)", sessionID: id, underlying: error)
        }
        return try await finishExit(id: id, containerID: containerID)
    }

    /// Starts an exited session's container again.
    @discardableResult
    public func start(_ id: String) async throws -> Session {
        let current = try await session(id)
        switch current.state {
        case .running, .starting:
            return current
        case .exited:
            break
        default:
            throw SessionManagerError(.conflict, "session \(id) is \(current.state); only an exited session can be started", sessionID: id)
        }
        guard let containerID = current.containerID else {
            throw SessionManagerError(.conflict, "session \(id) has no container to start; create a new session", sessionID: id)
        }
        if current.poolSlot != nil {
            throw SessionManagerError(
                .conflict,
                "session \(id) came from the warm pool, whose container runs the gate first and cannot be started again; create a new session",
                sessionID: id)
        }
        do {
            try await store.transition(id: id, from: [.exited], to: .starting, at: clock.now())
        } catch {
            throw SessionManagerError.store(error, "starting session \(id)", sessionID: id)
        }
        // Its container binds the egress directory, which stayed: the socket opens in it again.
        // The session starts either way; without its socket, its egress is refused inside.
        do {
            try await egress?.reopen(sessionID: id)
        } catch {
            logger.error(
                "cannot reopen the egress proxy of a session starting again",
                metadata: ["session.id": "\(id)", "error": "\(error)"])
        }
        let stream: TerminalStream?
        do {
            stream = try await attachBeforeStart(containerID)
            do {
                try await engine.startContainer(containerID)
            } catch {
                await stream?.close()
                throw error
            }
        } catch {
            let message = "\(error)"
            _ = try? await store.transition(id: id, from: [.starting], to: .exited, at: clock.now()) {
                $0.error = message
                $0.exitReason = .failed
            }
            let code: SessionManagerError.Code = (error as? DockerError)?.code == .notFound ? .conflict : .engine
            throw SessionManagerError(code, "starting the container of session \(id) failed: \(message)", sessionID: id, underlying: error)
        }
        do {
            let running = try await store.transition(
                id: id, from: [.starting], to: .running, at: clock.now(),
                event: NewEvent(type: .sessionStarted, sessionID: id, payload: Self.payload(["containerID": containerID])))
            if let stream { await handOver(running, stream) }
            return running
        } catch let error as SessionStoreError where error.code == .illegalTransition {
            await stream?.close()
            return try await session(id)
        } catch {
            await stream?.close()
            throw error
        }
    }

    /// Removes a session: kills its container if it runs, removes the container, and marks the
    /// session `removed`. The workspace is kept unless `deleteWorkspace`, which is refused while
    /// another session still uses it.
    public func remove(_ id: String, deleteWorkspace: Bool = false) async throws {
        // A launch in flight ends first (running or failed): what it made is then removed whole.
        await waitForCreate(of: id)
        let latest = try await session(id)
        var containerID = latest.containerID
        if containerID == nil { containerID = try? await containerIDByName(latest.containerName) }
        if let containerID {
            do {
                try await engine.removeContainer(containerID, force: true, removeVolumes: true)
            } catch let error as DockerError where error.code == .notFound {
                // Already gone.
            } catch {
                throw SessionManagerError(.engine, "removing the container of session \(id) failed: \(error)", sessionID: id, underlying: error)
            }
        }
        if latest.poolSlot != nil, let pool {
            // Unmounts the workspace from the slot and deletes the slot directory (never the workspace).
            await pool.release(sessionID: id)
        }
        if latest.state != .removed {
            do {
                try await store.transition(
                    id: id, from: Set(SessionState.allCases).subtracting([.removed]), to: .removed, at: clock.now(),
                    event: NewEvent(type: .sessionRemoved, sessionID: id)
                ) { session in
                    if session.state != .exited && session.state != .failed { session.exitReason = .removed }
                }
            } catch let error as SessionStoreError where error.code == .illegalTransition {
                // Removed concurrently.
            } catch {
                throw SessionManagerError.store(error, "removing session \(id)", sessionID: id)
            }
            if let removed = try? await store.session(id: id) { await ended(removed) }
        }
        await egress?.remove(sessionID: id)
        if deleteWorkspace {
            try await self.deleteWorkspace(latest.workspace, except: id)
        }
    }

    private func deleteWorkspace(_ name: String, except id: String) async throws {
        guard !creating.values.contains(where: { $0.workspace == name }), !deletingWorkspaces.contains(name) else {
            throw SessionManagerError(
                .conflict, "workspace \(name) has a session being created on it, or is being deleted already; try again",
                sessionID: id)
        }
        // Creates on it are refused from here on; the tree's removal below runs off this actor.
        deletingWorkspaces.insert(name)
        defer { deletingWorkspaces.remove(name) }
        let users = try await store.sessions(inStates: SessionState.live).filter { $0.workspace == name && $0.id != id }
        guard users.isEmpty else {
            throw SessionManagerError(
                .conflict,
                "workspace \(name) is still used by session(s) \(users.map(\.id).joined(separator: ", ")); remove them first",
                sessionID: id)
        }
        do {
            try await sizeLimiter?.release(workspace: name, deletingImage: true)
            try await workspaces.delete(name)
            try await store.forgetWorkspace(name)
        } catch {
            throw SessionManagerError(.conflict, "deleting workspace \(name) failed: \(error)", sessionID: id, underlying: error)
        }
    }

    func containerIDByName(_ name: String) async throws -> String? {
        do {
            return try await engine.inspectContainer(name).id
        } catch let error as DockerError where error.code == .notFound {
            return nil
        }
    }

    /// Records how a session's container ended, from the engine's own account (`inspect`): exit
    /// code, and `oom` when the kernel killed it for memory (a container whose child was OOM-killed
    /// can exit 0, so `OOMKilled` decides, not the code). Idempotent.
    @discardableResult
    func finishExit(
        id: String, containerID: String?, fallbackReason: ExitReason = .lost, killedReason: ExitReason = .killed
    ) async throws -> Session {
        var exitCode: Int?
        var oomKilled = false
        var gone = containerID == nil
        if let containerID {
            do {
                let inspect = try await engine.inspectContainer(containerID)
                if inspect.state.running {
                    // Not finished after all (a restart, or an event out of order).
                    return try await session(id)
                }
                exitCode = inspect.state.exitCode
                oomKilled = inspect.state.oomKilled || oomContainers.contains(containerID)
            } catch let error as DockerError where error.code == .notFound {
                gone = true
            }
            oomContainers.remove(containerID)
        }
        let current = try await session(id)
        guard [.starting, .running, .stopping].contains(current.state) else { return current }
        let requested = current.state == .stopping ? current.exitReason : nil
        let reason: ExitReason =
            if oomKilled {
                .oom
            } else if let requested {
                requested
            } else if gone {
                fallbackReason
            } else if exitCode == 137 || exitCode == 143 {
                // SIGKILL or SIGTERM from outside: nobody here asked for it.
                killedReason
            } else {
                .exited
            }
        var values = ["reason": reason.rawValue]
        if let exitCode { values["code"] = String(exitCode) }
        let now = clock.now()
        if reason == .oom, current.exitReason != .oom {
            // Before the exit, so that a reader who sees the session exited also sees why.
            _ = try? await store.appendEvent(NewEvent(type: .sessionOOM, sessionID: id, time: now))
        }
        let exited: Session
        do {
            exited = try await store.transition(
                id: id, from: [current.state], to: .exited, at: now,
                event: NewEvent(type: .sessionExited, sessionID: id, time: now, payload: Self.payload(values))
            ) { [exitCode] session in
                session.exitReason = reason
                session.exitCode = exitCode
            }
        } catch let error as SessionStoreError where error.code == .illegalTransition {
            return try await session(id)
        } catch {
            throw SessionManagerError.store(error, "recording the exit of session \(id)", sessionID: id)
        }
        await ended(exited)
        logger.info(
            "session exited",
            metadata: ["session.id": "\(id)", "exit.code": "\(exitCode.map(String.init) ?? "none")", "exit.reason": "\(reason)"])
        return exited
    }
}
