import Foundation
import Logging
import Testing

@testable import SessionStore

/// A fresh state directory under the system temporary directory, removed afterwards.
struct TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.path
        path = base + "/sessionstore-test-" + SessionID.generate()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// The state directory the store uses (created by the store, so its mode is the store's).
    var stateDirectory: String { path + "/state" }
}

/// Runs `body` with a store opened in a fresh directory; closes it and deletes the directory.
func withStore<T>(
    configure: (inout SessionStore.Configuration) -> Void = { _ in },
    _ body: (SessionStore, TemporaryDirectory) async throws -> T
) async throws -> T {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    var configuration = SessionStore.Configuration(
        directory: directory.stateDirectory, daemonInstance: "test", logger: quietLogger)
    configure(&configuration)
    let store = try SessionStore(configuration)
    do {
        let result = try await body(store, directory)
        try store.close()
        return result
    } catch {
        try? store.close()
        throw error
    }
}

/// Tests keep the store's info lines out of the output.
let quietLogger = Logger(label: "test.session-store", factory: { _ in SwiftLogNoOpLogHandler() })

/// A session as the manager would insert it. Timestamps are whole milliseconds so that they
/// compare equal after a round trip through the database.
func makeSession(
    id: String = SessionID.generate(),
    labels: [String: String] = ["team": "core"],
    createdAt: Date = wholeMilliseconds(Date()),
    requestHash: String = "hash-1",
    env: [String] = ["API_TOKEN=s3cr3t-value", "LANG=C.UTF-8"]
) -> Session {
    Session(
        id: id, labels: labels, owner: "key-dev", profile: "default", image: "sandbox:latest",
        command: ["/bin/sh", "-l"], env: env, workspace: "ws-\(id)", workspaceUID: 20000,
        containerName: "sandcastle-\(id)", requestHash: requestHash, daemonInstance: "test",
        createdAt: createdAt, ttlSeconds: 3600, idleTimeoutSeconds: 600)
}

func createdEvent(_ payload: String = "{}") -> NewEvent {
    NewEvent(type: .sessionCreated, payload: payload)
}

func wholeMilliseconds(_ date: Date) -> Date {
    Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
}

/// The code of the `SessionStoreError` that `body` throws, or `nil` when it throws nothing.
func storeErrorCode(_ body: () async throws -> Void) async -> SessionStoreError.Code? {
    await storeError(body)?.code
}

/// The `SessionStoreError` that `body` throws; records an issue for any other error.
func storeError(_ body: () async throws -> Void) async -> SessionStoreError? {
    do {
        try await body()
        return nil
    } catch let error as SessionStoreError {
        return error
    } catch {
        Issue.record("expected a SessionStoreError, got \(type(of: error)): \(error)")
        return nil
    }
}

/// Inserts `session` and fails the test unless it was new.
@discardableResult
func insertNew(_ store: SessionStore, _ session: Session) async throws -> Session {
    let result = try await store.insertSession(session, event: createdEvent())
    guard case .inserted(let stored) = result else {
        Issue.record("session \(session.id) already existed")
        return result.session
    }
    return stored
}
