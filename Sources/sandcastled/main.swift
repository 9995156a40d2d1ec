// sandcastled: the Sandcastle daemon. Everything but process set-up lives in SandcastleDaemon.
import Foundation
import HostHardening
import Logging
import SandcastleDaemon

LoggingSystem.bootstrap { label in
    DaemonLogHandler(
        label: label,
        logLevel: ProcessInfo.processInfo.environment["SANDCASTLE_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info)
}
let logger = Logger(label: "sandcastled")

do {
    // Everything up to the hardening is synchronous and runs on the main thread alone:
    // capabilities are per thread, and no other thread may exist yet (HostHardening.apply checks).
    let options = try Daemon.Options(arguments: CommandLine.arguments)
    let (configuration, file) = try Daemon.loadConfiguration(options: options, logger: logger)
    Daemon.setUpEventLoops(configuration, logger: logger)
    // Read, then hidden from the tools the daemon runs (mount, mkfs), while no thread can race setenv.
    let notifier = try SystemdNotifier()
    unsetenv("NOTIFY_SOCKET")
    unsetenv("WATCHDOG_USEC")
    unsetenv("WATCHDOG_PID")
    var hardening: HostHardening.Report?
    if options.selfHarden {
        hardening = try Daemon.harden(configuration, logger: logger)
    } else {
        logger.warning("--no-self-harden: keeping every capability, no seccomp filter")
    }
    if options.hardeningSelfTest {
        Daemon.printSelfTest(report: hardening)
        exit(0)
    }
    try await Daemon.run(configuration: configuration, file: file, hardening: hardening, notifier: notifier, logger: logger)
} catch {
    FileHandle.standardError.write(Data("sandcastled: \(error)\n".utf8))
    exit(1)
}
