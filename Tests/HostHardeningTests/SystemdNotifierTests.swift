import Foundation
import HostHardening
import SandcastleTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("sd_notify without libsystemd")
struct SystemdNotifierTests {
    @Test(arguments: [false, true])
    func sendsEachMessageAsOneDatagram(abstract: Bool) throws {
        let listener = try NotifyListener(abstract: abstract)
        let notifier = try #require(try SystemdNotifier(environment: ["NOTIFY_SOCKET": listener.name]))
        try notifier.ready(status: "sessions: 2 running")
        #expect(listener.receive() == "READY=1\nSTATUS=sessions: 2 running")
        try notifier.watchdogPing()
        #expect(listener.receive() == "WATCHDOG=1")
        // A newline inside a value would start a new assignment: it becomes a space.
        try notifier.status("two\nlines")
        #expect(listener.receive() == "STATUS=two lines")
        try notifier.reloading()
        let reloading = listener.receive() ?? ""
        #expect(reloading.hasPrefix("RELOADING=1\nMONOTONIC_USEC="), "\(reloading)")
        #expect(reloading.split(separator: "=").last.flatMap { UInt64($0) } ?? 0 > 0)
        try notifier.stopping()
        #expect(listener.receive() == "STOPPING=1")
    }

    @Test func noSocketMeansNoNotifier() throws {
        #expect(try SystemdNotifier(environment: [:]) == nil)
        #expect(try SystemdNotifier(environment: ["NOTIFY_SOCKET": ""]) == nil)
    }

    @Test func aRelativeSocketNameIsRefused() {
        #expect(throws: NotifyError.self) { try SystemdNotifier(environment: ["NOTIFY_SOCKET": "run/notify"]) }
    }

    @Test func aMissingListenerIsAnErrorNotAHang() throws {
        let notifier = try #require(try SystemdNotifier(environment: ["NOTIFY_SOCKET": "/nonexistent/sc-notify.sock"]))
        #expect(throws: NotifyError.self) { try notifier.ready() }
    }

    @Test func watchdogPingsAtHalfTheIntervalAndOnlyForItsOwnProcess() throws {
        let socket = ["NOTIFY_SOCKET": "@sc-unused"]
        let mine = try #require(try SystemdNotifier(environment: socket.merging(["WATCHDOG_USEC": "30000000"]) { $1 }))
        #expect(mine.watchdogPingInterval == .seconds(15))
        let named = try #require(
            try SystemdNotifier(environment: socket.merging(["WATCHDOG_USEC": "4000000", "WATCHDOG_PID": String(getpid())]) { $1 }))
        #expect(named.watchdogPingInterval == .seconds(2))
        let other = try #require(
            try SystemdNotifier(environment: socket.merging(["WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"]) { $1 }))
        #expect(other.watchdogPingInterval == nil)
        let off = try #require(try SystemdNotifier(environment: socket))
        #expect(off.watchdogPingInterval == nil)
    }
}
