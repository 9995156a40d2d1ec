
import Testing

@testable import SandcastleConfig

@Suite("Daemon configuration: the warm pool")
struct PoolConfigurationTests {
    let defaults = DaemonConfiguration.defaults(environment: ["HOME": "/home/op"], isRoot: true)

    @Test func disabledByDefault() {
        #expect(defaults.pool.targets.isEmpty)
        #expect(!defaults.pool.isEnabled)
        #expect(defaults.pool.root == nil)
    }

    @Test func targetsAndPaths() throws {
        let text = """
            [pool]
            root = "/srv/pool"
            gate = "/opt/sandcastle/gate"
            ready_timeout_seconds = 10

            [[pool.targets]]
            profile = "default"
            image = "sandcastle/testbox:latest"
            size = 8

            [[pool.targets]]
            profile = "small"
            image = "sandcastle/testbox:latest"
            size = 2
            refill_per_minute = 30
            """
        let config = try DaemonConfiguration.parse(text, file: "t.toml", defaults: defaults)
        #expect(config.pool.root == "/srv/pool")
        #expect(config.pool.gate == "/opt/sandcastle/gate")
        #expect(config.pool.readyTimeoutSeconds == 10)
        #expect(config.pool.isEnabled)
        #expect(
            config.pool.targets == [
                PoolSettings.Target(profile: "default", image: "sandcastle/testbox:latest", size: 8, refillPerMinute: 120),
                PoolSettings.Target(profile: "small", image: "sandcastle/testbox:latest", size: 2, refillPerMinute: 30),
            ])
    }

    @Test func badValuesAreRefusedWithTheirLines() {
        let text = """
            [pool]
            root = "relative"

            [[pool.targets]]
            profile = "default"
            image = "x:1"
            size = 9999
            refill_per_minute = 0
            colour = "blue"
            """
        do {
            _ = try DaemonConfiguration.parse(text, file: "t.toml", defaults: defaults)
            Issue.record("accepted a bad pool configuration")
        } catch {
            let problems = error.problems.joined(separator: "\n")
            #expect(problems.contains("pool.root"))
            #expect(problems.contains("size"))
            #expect(problems.contains("refill_per_minute"))
            #expect(problems.contains("colour"))
        }
    }
}

@Suite("Daemon configuration: workspace limits")
struct WorkspaceQuotaConfigurationTests {
    @Test func autoByDefaultEachSettingAndABadOneWithItsLine() throws {
        let defaults = DaemonConfiguration.defaults(environment: ["HOME": "/home/op"], isRoot: true)
        #expect(defaults.workspaceQuota == .auto)
        for setting in WorkspaceQuotaSetting.allCases {
            let parsed = try DaemonConfiguration.parse("[workspaces]\nquota = \"\(setting.rawValue)\"\n", file: "t.toml", defaults: defaults)
            #expect(parsed.workspaceQuota == setting)
        }
        #expect(throws: ConfigurationError.self) {
            try DaemonConfiguration.parse("[workspaces]\nquota = \"xfs\"\n", file: "t.toml", defaults: defaults)
        }
        do {
            _ = try DaemonConfiguration.parse("[workspaces]\nquota = \"xfs\"\n", file: "t.toml", defaults: defaults)
        } catch {
            #expect(error.problems.first?.contains("line 2") == true && error.problems.first?.contains("\"project\"") == true, "\(error)")
        }
    }
}
