import DockerEngine
import Testing

@testable import SandcastleConfig

@Suite("Daemon configuration")
struct ConfigurationTests {
    let defaults = DaemonConfiguration.defaults(environment: ["HOME": "/home/op"], isRoot: true)

    @Test func embeddedDefaults() {
        #expect(defaults.socketPath == "/run/sandcastle/sandcastled.sock")
        #expect(defaults.stateDirectory == "/var/lib/sandcastle")
        #expect(defaults.engineEndpoint == .defaultSocket)
        #expect(defaults.tcpAddress == nil)
        let user = DaemonConfiguration.defaults(environment: ["HOME": "/home/op"], isRoot: false)
        #expect(user.stateDirectory == "/home/op/.local/share/sandcastle")
        #expect(user.socketPath == "/home/op/.local/share/sandcastle/sandcastled.sock")
        #expect(DaemonConfiguration.defaults(environment: ["HOME": "/h", "XDG_DATA_HOME": "/x"], isRoot: false).stateDirectory == "/x/sandcastle")
    }

    @Test func fileOverridesDefaults() throws {
        let text = """
            [api]
            tcp = "127.0.0.1:8420"
            allowed_origins = ["https://app.example.com"]

            [engine]
            endpoint = "unix:///run/docker.sock"
            max_concurrent_calls = 4

            [[auth.keys]]
            name = "web"
            sha256 = "\(String(repeating: "AB", count: 32))"
            role = "developer"
            """
        let config = try DaemonConfiguration.parse(text, file: "sandcastle.toml", defaults: defaults)
        #expect(config.tcpAddress?.host == "127.0.0.1")
        #expect(config.tcpAddress?.port == 8420)
        #expect(config.allowedOrigins == ["https://app.example.com"])
        #expect(config.engineEndpoint == .unix(path: "/run/docker.sock"))
        #expect(config.engineConcurrency == 4)
        #expect(config.apiKeys == [.init(name: "web", sha256: String(repeating: "ab", count: 32), role: "developer")])
        #expect(config.socketPath == defaults.socketPath)
    }

    @Test func everyProblemIsReportedWithItsLine() {
        let text = """
            [api]
            socket = "/run/x.sock"
            sockett = "/typo"
            max_body_bytes = -5

            [engine]
            endpoint = "ssh://host"

            [paths]
            state_directory = "relative/dir"

            [colours]
            red = 1
            """
        do {
            _ = try DaemonConfiguration.parse(text, file: "bad.toml", defaults: defaults)
            Issue.record("a bad file was accepted")
        } catch {
            let problems = error.problems.joined(separator: "\n")
            #expect(error.problems.count == 5, "\(problems)")
            #expect(problems.contains("line 3: api.sockett: unknown key"))
            #expect(problems.contains("line 4: api.max_body_bytes = -5: must be a positive integer"))
            #expect(problems.contains("line 7: engine.endpoint"))
            #expect(problems.contains("line 10: paths.state_directory"))
            #expect(problems.contains("line 12: colours: unknown key"))
            #expect(error.description.contains("bad.toml"))
        }
    }

    @Test func syntaxErrorsNameTheLine() {
        do {
            _ = try DaemonConfiguration.parse("[api]\nsocket = \n", file: "broken.toml", defaults: defaults)
            Issue.record("a broken file was accepted")
        } catch {
            #expect(error.problems.first?.hasPrefix("line 2") == true, "\(error)")
        }
    }
}

@Suite("Daemon configuration: exec")
struct ExecConfigurationTests {
    @Test func execsPerSessionDefaultsToFourAndIsRead() throws {
        #expect(DaemonConfiguration.defaults().execsPerSession == 4)
        let parsed = try DaemonConfiguration.parse("[engine]\nmax_execs_per_session = 2\n", file: "t.toml", defaults: .defaults())
        #expect(parsed.execsPerSession == 2)
        let untouched = try DaemonConfiguration.parse("[engine]\nstop_grace_seconds = 3\n", file: "t.toml", defaults: .defaults())
        #expect(untouched.execsPerSession == 4)
    }
}

@Suite("Daemon configuration: threads")
struct ThreadsConfigurationTests {
    @Test func eventLoopsAreOneByDefaultReadAndBounded() throws {
        #expect(DaemonConfiguration.defaults().eventLoops == 1)
        let parsed = try DaemonConfiguration.parse("[threads]\nevent_loops = 4\n", file: "t.toml", defaults: .defaults())
        #expect(parsed.eventLoops == 4)
        for (value, problem) in [("0", "must be a positive integer"), ("257", "at most 256")] {
            do {
                _ = try DaemonConfiguration.parse("[threads]\nevent_loops = \(value)\n", file: "t.toml", defaults: .defaults())
                Issue.record("event_loops = \(value) was accepted")
            } catch {
                #expect(error.problems == ["line 2: threads.event_loops = \(value): \(problem)"])
            }
        }
    }
}

@Suite("Daemon configuration: store")
struct StoreConfigurationTests {
    @Test func synchronousIsFullByDefaultNormalWhenAskedAndAnythingElseIsRefused() throws {
        #expect(DaemonConfiguration.defaults().storeSynchronous == "full")
        let parsed = try DaemonConfiguration.parse("[store]\nsynchronous = \"normal\"\n", file: "t.toml", defaults: .defaults())
        #expect(parsed.storeSynchronous == "normal")
        do {
            _ = try DaemonConfiguration.parse("\n[store]\nsynchronous = \"off\"\n", file: "t.toml", defaults: .defaults())
            Issue.record("synchronous = off was accepted")
        } catch {
            #expect(error.problems == ["line 3: store.synchronous = off: expected full or normal"])
        }
    }
}
