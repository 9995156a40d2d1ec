// sandcastle-session-host: hosts a SessionManager in a process of its own, so that tests can
// kill it with SIGKILL in the middle of launches and start it again, as they will the daemon.
//
//   sandcastle-session-host --state DIR --workspaces DIR --policies DIR --instance ID
//                           [--image IMAGE --launch N [--prefix P]] [--exit-after-reconcile]
//
// It reconciles, prints one JSON line per step on stdout ({"reconciled":...}, {"created":...},
// {"failed":...}), then follows the engine's events until stdin closes or it is killed.
import DockerEngine
import Foundation
import Logging
import SandboxPolicy
import Workspaces
import SessionStore
import Sessions

struct Options {
    var state = ""
    var workspaces = ""
    var policies = ""
    var instance = ""
    var image = ""
    var launch = 0
    var prefix = "host"
    var exitAfterReconcile = false

    init(_ arguments: [String]) throws {
        var iterator = arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            func value() throws -> String {
                guard let value = iterator.next() else { throw UsageError(message: "\(argument) needs a value") }
                return value
            }
            switch argument {
            case "--state": state = try value()
            case "--workspaces": workspaces = try value()
            case "--policies": policies = try value()
            case "--instance": instance = try value()
            case "--image": image = try value()
            case "--launch":
                guard let count = Int(try value()), count >= 0 else { throw UsageError(message: "--launch takes a count") }
                launch = count
            case "--prefix": prefix = try value()
            case "--exit-after-reconcile": exitAfterReconcile = true
            default: throw UsageError(message: "unknown argument \(argument)")
            }
        }
        guard !state.isEmpty, !workspaces.isEmpty, !policies.isEmpty, !instance.isEmpty else {
            throw UsageError(message: "--state, --workspaces, --policies and --instance are required")
        }
        if launch > 0 && image.isEmpty { throw UsageError(message: "--launch needs --image") }
    }
}

struct UsageError: Error, CustomStringConvertible {
    var message: String
    var description: String { "usage: \(message)" }
}

/// One line of JSON on stdout, written whole.
func emit(_ object: [String: String]) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    guard var data = try? encoder.encode(object) else { return }
    data.append(UInt8(ascii: "\n"))
    FileHandle.standardOutput.write(data)
}

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .info
    return handler
}

do {
    let options = try Options(CommandLine.arguments)
    let client = try await DockerClient.connect(.fromEnvironment())
    let store = try SessionStore(.init(directory: options.state, daemonInstance: options.instance))
    let manager = SessionManager(
        configuration: .init(daemonInstance: options.instance), engine: LimitedEngine(client, limit: 8), store: store,
        policies: Swappable(try PolicySet.load(directory: options.policies)),
        workspaces: try WorkspaceResolver(root: options.workspaces))
    let report = try await manager.reconcile()
    emit([
        "reconciled": "\(report)", "adopted": "\(report.adopted.count)", "exited": "\(report.exited.count)",
        "rolledBack": "\(report.rolledBack.count)", "removedOrphans": "\(report.removedOrphans.count)",
    ])
    if options.exitAfterReconcile { exit(0) }

    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await manager.followEngineEvents() }
        group.addTask {
            await withTaskGroup(of: Void.self) { launches in
                for index in 0..<options.launch {
                    launches.addTask {
                        let id = "\(options.prefix)-\(index)"
                        let request = SessionLaunchRequest(
                            image: options.image, profile: "default", workspace: id, command: ["sleep", "3600"])
                        do {
                            let session = try await manager.create(id: id, request: request, owner: "host").session
                            emit(["created": id, "state": session.state.rawValue])
                        } catch {
                            emit(["failed": id, "error": "\(error)"])
                        }
                    }
                }
            }
            emit(["launched": "\(options.launch)"])
        }
        group.addTask {
            // Until stdin closes: the parent's way to stop this host without a signal.
            _ = FileHandle.standardInput.readDataToEndOfFile()
            throw CancellationError()
        }
        _ = try await group.next()
        group.cancelAll()
    }
} catch is CancellationError {
    exit(0)
} catch {
    FileHandle.standardError.write(Data("sandcastle-session-host: \(error)\n".utf8))
    exit(1)
}
