// sandcastled: the Sandcastle daemon. Everything but process set-up lives in SandcastleDaemon.
import Foundation
import Logging
import SandcastleDaemon

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = ProcessInfo.processInfo.environment["SANDCASTLE_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
    return handler
}
let logger = Logger(label: "sandcastled")

do {
    let options = try Daemon.Options(arguments: CommandLine.arguments)
    try await Daemon.run(options: options, logger: logger)
} catch let error as DaemonError {
    FileHandle.standardError.write(Data("sandcastled: \(error)\n".utf8))
    exit(1)
} catch {
    FileHandle.standardError.write(Data("sandcastled: \(error)\n".utf8))
    exit(1)
}
