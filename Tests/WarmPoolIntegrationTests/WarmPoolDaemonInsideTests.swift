import DockerEngine
import Foundation
import SandboxPolicy
import SandcastleTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real `sandcastled` with a warm pool, killed with SIGKILL and started again: run only
/// inside Docker-in-Docker.
@Suite("Warm pool in the daemon process, inside Docker-in-Docker", .serialized, .enabled(if: InDinD.isInside))
struct WarmPoolDaemonInsideTests {
    @Test func sigkillAndRestartLeaveNoPoolContainerUntracked() async throws {
        let directory = "/tmp/sc-pool-daemon-\(UUID().uuidString.prefix(6).lowercased())"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let engine = try await DockerClient.connect(.fromEnvironment())
        let gate = try GateBinary.path()
        let config = SandcastledProcess.configuration(in: directory, policies: ManagerFixture.policiesDirectory) + """
            [engine]
            stop_grace_seconds = 2
            [pool]
            root = "\(directory)/pool"
            gate = "\(gate)"
            [[pool.targets]]
            profile = "default"
            image = "\(ManagerFixture.image)"
            size = 3
            refill_per_minute = 6000
            """
        try config.write(toFile: directory + "/sandcastled.toml", atomically: true, encoding: .utf8)
        var daemon = try SandcastledProcess(configuredIn: directory, logName: "first.log")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var instance = ""
        do {
            try await daemon.waitUntilListening(timeout: .seconds(60))
            instance = ((try? String(contentsOfFile: directory + "/state/instance-id", encoding: .utf8)) ?? "")
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try await daemon.waitForReadyPool(3)
            let created = try await daemon.curl([
                "-H", "Content-Type: application/json", "-d",
                #"{"id":"pooled-1","image":"\#(ManagerFixture.image)","profile":"default","workspace":"pooled","command":["sleep","3600"]}"#,
                "http://x/v1/sessions",
            ])
            #expect(created.contains(#""state":"running""#), "\(created)")
            let containerID = try JSONDecoder().decode(Shown.self, from: Data(created.utf8)).containerId ?? ""
            let pooled = try await engine.inspectContainer(containerID)
            #expect(pooled.config?.labels?[LaunchSpec.poolSlotLabel] != nil, "the session was not claimed from the pool")
            try await daemon.waitForReadyPool(3)
            let before = Set(try await Self.containers(engine, instance).map(\.id))
            #expect(before.count == 4, "\(before.count) containers: the session's and three ready")

            _ = await daemon.stop(SIGKILL)
            daemon = try SandcastledProcess(configuredIn: directory, logName: "second.log")
            try await daemon.waitUntilListening(timeout: .seconds(60))
            try await daemon.waitForReadyPool(3)

            // Every container of this daemon is the session's or a ready slot's that the new
            // process made; the old ready ones (whose gates nobody can claim now) are gone.
            let after = try await Self.containers(engine, instance)
            #expect(after.count == 4, "\(after.map { $0.names.first ?? $0.id })")
            #expect(after.contains { $0.id == containerID })
            #expect(Set(after.map(\.id)).intersection(before) == [containerID])
            let shown = try await daemon.curl(["http://x/v1/sessions/pooled-1"])
            #expect(shown.contains(#""state":"running""#), "\(shown)")
            // The pooled session's slot is still mounted; nothing else under the pool root is.
            let mounted = LinuxSlotMounterProbe.mountPoints(under: directory + "/pool/")
            #expect(mounted.count == 1, "\(mounted)")

            let removed = try await daemon.curl(["-X", "DELETE", "-w", "%{http_code}", "http://x/v1/sessions/pooled-1"])
            #expect(removed.hasSuffix("204") || removed.hasSuffix("200"), "\(removed)")
            #expect(LinuxSlotMounterProbe.mountPoints(under: directory + "/pool/").isEmpty)
            _ = await daemon.stop(SIGTERM)
        } catch {
            _ = await daemon.stop(SIGKILL)
            Issue.record("daemon log: \(daemon.logText)")
            await Self.cleanUp(engine, instance, directory: directory)
            throw error
        }
        await Self.cleanUp(engine, instance, directory: directory)
    }

    struct Shown: Decodable {
        var containerId: String?
    }

    static func containers(_ engine: DockerClient, _ instance: String) async throws -> [ContainerSummary] {
        var filters = DockerFilters()
        filters.label(SandcastleLabels.instance, instance)
        return try await engine.listContainers(all: true, filters: filters)
    }

    static func cleanUp(_ engine: DockerClient, _ instance: String, directory: String) async {
        if !instance.isEmpty {
            for container in (try? await containers(engine, instance)) ?? [] {
                try? await engine.removeContainer(container.id, force: true)
            }
        }
        for point in LinuxSlotMounterProbe.mountPoints(under: directory + "/").sorted(by: >) {
            _ = umount2(point, Int32(MNT_DETACH))
        }
    }
}

/// Mount points from `/proc/self/mountinfo`.
enum LinuxSlotMounterProbe {
    static func mountPoints(under prefix: String) -> [String] {
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/mountinfo") else { return [] }
        defer { try? handle.close() }
        let text = String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
        return Array(Set(text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4, fields[4].hasPrefix(prefix) else { return nil }
            return String(fields[4])
        }))
    }
}

extension SandcastledProcess {
    func waitForReadyPool(_ count: Int) async throws {
        try await eventually("\(count) ready pool containers", timeout: .seconds(90)) {
            (try? await curl(["http://x/v1/pools"]))?.contains(#""ready":\#(count)"#) == true
        }
    }
}
