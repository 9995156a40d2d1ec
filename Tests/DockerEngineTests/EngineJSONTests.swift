import Foundation
import Testing

@testable import DockerEngine

/// The client reads and writes the launch path's JSON with `JSONText`, the rest with Foundation's
/// coders over the same `CodingKeys`: both ways must give the same values and the same bytes.
@Suite("The engine's JSON on a launch's path")
struct EngineJSONTests {
    /// Every field of the create's body set, with text that needs escaping.
    static let fullConfig = ContainerConfig(
        hostname: "box", user: "1000:1000", attachStdin: true, attachStdout: true, attachStderr: false, tty: true,
        openStdin: true, stdinOnce: false, env: ["HOME=/home/agent", "QUOTE=\"a\\b\"", "TAB=\t", "é=ü"],
        cmd: ["sh", "-c", "echo /a/b"], entrypoint: ["/sbin/tini", "--"], image: "sandcastle/box:1",
        workingDir: "/workspace", labels: ["b": "2", "a": "1", "Z": "0", "dev.sandcastle.session": "s/1"],
        networkDisabled: true, stopSignal: "SIGTERM", stopTimeout: 10,
        hostConfig: HostConfig(
            privileged: false, capAdd: ["CHOWN"], capDrop: ["ALL"], securityOpt: ["no-new-privileges", "seccomp={\"a\":1}"],
            networkMode: "none", ipcMode: "private", pidMode: "", utsMode: "", usernsMode: "", cgroupnsMode: "private",
            readonlyRootfs: true, tmpfs: ["/tmp": "rw,size=16m", "/run": "rw"],
            mounts: [
                Mount(
                    type: .bind, source: "/var/lib/ws/1", target: "/workspace", readOnly: false,
                    bindOptions: .init(propagation: .rprivate, nonRecursive: true)),
                Mount(type: .tmpfs, target: "/scratch", tmpfsOptions: .init(sizeBytes: 1 << 30, mode: 0o1777)),
            ],
            binds: [], volumesFrom: [], memory: 512 << 20, memorySwap: 512 << 20, memorySwappiness: -1,
            nanoCpus: 1_000_000_000, pidsLimit: 256, ulimits: [Ulimit(name: "nofile", soft: 1024, hard: 4096)],
            devices: [DeviceMapping(pathOnHost: "/dev/null", pathInContainer: "/dev/null", cgroupPermissions: "rwm")],
            deviceCgroupRules: ["c 1:3 rwm"], oomScoreAdj: 500, logConfig: LogConfig(type: "json-file", config: ["max-size": "1m"]),
            init: true, maskedPaths: ["/proc/kcore"], readonlyPaths: ["/proc/sys"],
            restartPolicy: RestartPolicy(name: "no", maximumRetryCount: 0), autoRemove: false, shmSize: 64 << 20,
            sysctls: ["net.ipv4.ip_forward": "0"], runtime: "runc", extraHosts: ["host:127.0.0.1"],
            portBindings: ["80/tcp": [PortBinding(hostIp: "127.0.0.1", hostPort: "8080")], "81/tcp": nil],
            publishAllPorts: false, groupAdd: ["100"], oomKillDisable: false))

    @Test func theCreateBodyIsWhatJSONEncoderWrites() throws {
        for config in [Self.fullConfig, ContainerConfig(), ContainerConfig(hostConfig: HostConfig())] {
            let written = config.jsonBytes
            #expect(written == Array(try JSONCoding.encoder.encode(config)))
            #expect(try ContainerConfig(json: written) == config)
        }
    }

    @Test func theExecBodyIsWhatJSONEncoderWrites() throws {
        for exec in [
            ExecConfig(cmd: ["sh", "-c", "ls /"], tty: true, env: ["A=1"], user: "1000", workingDir: "/workspace"),
            ExecConfig(cmd: [], tty: false, attachStdin: false),
        ] {
            #expect(exec.jsonBytes == Array(try JSONCoding.encoder.encode(exec)))
        }
    }

    @Test func answersReadAsJSONDecoderReadsThem() throws {
        #expect(try read(ContainerInspect.self, "container-inspect-exited.json"))
        #expect(try read(ContainerCreateResponse.self, "container-create.json"))
        #expect(try read(ContainerWaitResponse.self, "container-wait.json"))
        for line in try Fixture.bytes("events.jsonl").split(separator: UInt8(ascii: "\n")) {
            #expect(try DockerEvent(json: line) == JSONCoding.decoder.decode(DockerEvent.self, from: Data(line)))
        }
        let wait = #"{"StatusCode":137,"Error":{"Message":"killed"}}"#
        #expect(try ContainerWaitResponse(json: wait.utf8) == JSONCoding.decoder.decode(ContainerWaitResponse.self, from: Data(wait.utf8)))
    }

    /// The inspect of a container made from the full body: every modelled field, as the engine
    /// writes them back, among members the client does not model (nested objects, nulls).
    @Test func aFullInspectReadsAsJSONDecoderReadsIt() throws {
        var host = try #require(Self.fullConfig.hostConfig)
        host.binds = nil
        var config = Self.fullConfig
        config.hostConfig = nil
        let text = """
            {"Id":"abc","Name":"/box","Created":"2026-12-07T00:00:00Z","Path":"sh","Args":["-c"],
             "State":{"Status":"running","Running":true,"Paused":false,"Restarting":false,"OOMKilled":false,
                      "Dead":false,"Pid":42,"ExitCode":0,"Error":"","StartedAt":"x","FinishedAt":"y","Health":null},
             "Image":"sha256:1","RestartCount":0,"Unmodelled":{"a":[1,2.5e3,-0,true,false,null,{"b":"\\u00e9\\ud83d\\ude00"}]},
             "Config":\(String(decoding: config.jsonBytes, as: UTF8.self)),
             "HostConfig":\(String(decoding: host.jsonBytes, as: UTF8.self)),
             "Mounts":[{"Type":"bind","Source":"/var/lib/ws/1","Destination":"/workspace","Mode":"","RW":true,
                        "Propagation":"rprivate"},{"Type":"volume","Name":"v","Destination":"/data","RW":false}],
             "NetworkSettings":{"Networks":{}},"GraphDriver":{"Data":null,"Name":"overlay2"}}
            """
        let inspect = try ContainerInspect(json: text.utf8)
        #expect(inspect == (try JSONCoding.decoder.decode(ContainerInspect.self, from: Data(text.utf8))))
        #expect(inspect.hostConfig == host)
        #expect(inspect.config == config)
        #expect(inspect.mounts?.count == 2)
    }

    @Test func anAnswerThatDoesNotFitSaysWhere() {
        func failure(_ text: String) -> String? {
            do {
                _ = try ContainerInspect(json: text.utf8)
                return nil
            } catch {
                return String(describing: error)
            }
        }
        let state = #""State":{"Status":"created","Running":false,"OOMKilled":false,"ExitCode":0}"#
        #expect(failure(#"{"Id":"a",\#(state)}"#) == #"the object that ends here has no "Name" at byte 86"#)
        #expect(failure(#"{"Id":"a","Name":"/b",\#(state),"HostConfig":{"Memory":"1g"}}"#) == "expected a value at byte 121")
        #expect(failure(#"{"Id":"a","Name":"/b",\#(state),"Mounts":[{"Type":"bind"}]}"#) == #"the object that ends here has no "Destination" at byte 123"#)
        #expect(failure(#"{"Id":"a","Name":"/b",\#(state),"HostConfig":{"Mounts":[{"Type":"image","Target":"/"}]}}"#)?
            .hasPrefix(#""image" is not a Kind"#) == true)
        #expect(failure(#"{"Id":"a","Name":"/b",\#(state),"RestartCount":1.5}"#)?.hasPrefix("expected an integer that Int holds") == true)
        #expect(failure(#"{"Id":"a","Name":"/b",\#(state)} x"#)?.hasPrefix("expected the end of the text") == true)
    }

    private func read<T: EngineJSONReadable & Equatable>(_ type: T.Type, _ fixture: String) throws -> Bool {
        let bytes = try Fixture.bytes(fixture)
        return try T(json: bytes) == Fixture.decode(type, fixture)
    }
}
