import Foundation
import NIOCore
import Testing

@testable import DockerEngine

@Suite("Decoding what the engine sends")
struct DecodingTests {
    @Test func versionAndInfo() throws {
        let version = try Fixture.decode(EngineVersion.self, "version.json")
        #expect(version.apiVersion == "1.41")
        #expect(version.minAPIVersion == "1.12")
        #expect(version.version.hasPrefix("20.10"))

        let info = try Fixture.decode(EngineInfo.self, "info.json")
        #expect(info.cgroupVersion == "1")
        #expect(info.memoryLimit == true)
        #expect(info.pidsLimit == true)
        #expect(info.seccompSupported)
    }

    @Test func inspectOfAnExitedContainer() throws {
        let inspect = try Fixture.decode(ContainerInspect.self, "container-inspect-exited.json")
        #expect(inspect.name == "/fixture1")
        #expect(inspect.state.status == "exited")
        #expect(inspect.state.exitCode == 3)
        #expect(inspect.state.oomKilled == false)
        #expect(inspect.config?.tty == true)
        #expect(inspect.config?.labels?["dev.sandcastle.fixture"] == "1")
        let host = try #require(inspect.hostConfig)
        #expect(host.capDrop == ["ALL"])
        #expect(host.memory == 33_554_432)
        #expect(host.memorySwap == 33_554_432)
        #expect(host.pidsLimit == 64)
        #expect(host.readonlyRootfs == true)
        #expect(host.networkMode == "none")
        #expect(host.tmpfs?["/tmp"] == "rw,nosuid,nodev,size=16m,uid=1000,gid=1000")
        #expect(host.mounts?.first?.bindOptions?.propagation == .rprivate)
        let mount = try #require(inspect.mounts?.first)
        #expect(mount.source == "/tmp/fixture-ws")
        #expect(mount.destination == "/workspace")
        #expect(mount.propagation == "rprivate")
    }

    @Test func listCreateWaitAndImage() throws {
        let list = try Fixture.decode([ContainerSummary].self, "container-list.json")
        #expect(list.count == 1)
        #expect(list.first?.names == ["/fixture1"])
        #expect(list.first?.labels?["dev.sandcastle.fixture"] == "1")

        let created = try Fixture.decode(ContainerCreateResponse.self, "container-create.json")
        #expect(created.id.count == 64)

        let wait = try Fixture.decode(ContainerWaitResponse.self, "container-wait.json")
        #expect(wait.statusCode == 3)
        #expect(wait.error == nil)

        let image = try Fixture.decode(ImageInspect.self, "image-inspect.json")
        #expect(image.id.hasPrefix("sha256:"))
        #expect(image.repoTags?.contains("sandcastle-testbox:latest") == true)
    }

    @Test func eventLines() async throws {
        let bytes = try Fixture.bytes("events.jsonl")
        // Feed the captured stream in awkward pieces: lines split across chunks.
        let chunks = stride(from: 0, to: bytes.count, by: 37).map {
            ByteBuffer(bytes: bytes[$0..<min($0 + 37, bytes.count)])
        }
        var events: [DockerEvent] = []
        for try await line in ChunkSequence(chunks: chunks).lines() {
            events.append(try DockerEvent(json: line.readableBytesView))
        }
        #expect(events.map(\.action) == ["create", "start", "die", "destroy"])
        #expect(events[2].exitCode == 7)
        #expect(events.allSatisfy { $0.actor.attributes?["dev.sandcastle.fixture"] == "1" })
    }

    @Test func errorBodiesBecomeTypedErrors() throws {
        let notFound = DockerError.fromResponse(
            method: "GET", path: "/v1.41/containers/nonexistent/json", status: 404,
            body: try Fixture.bytes("error-not-found.json"))
        #expect(notFound.code == .notFound)
        #expect(notFound.engineMessage == "No such container: nonexistent")
        #expect(notFound.description.contains("GET /v1.41/containers/nonexistent/json"))
        #expect(notFound.description.contains("404"))

        let conflict = DockerError.fromResponse(
            method: "POST", path: "/v1.41/containers/create?name=fixture1", status: 409,
            body: try Fixture.bytes("error-conflict.json"))
        #expect(conflict.code == .conflict)
        #expect(conflict.engineMessage?.contains("already in use") == true)

        let garbage = DockerError.fromResponse(method: "GET", path: "/x", status: 500, body: Array("<html>oops".utf8))
        #expect(garbage.code == .http)
        #expect(garbage.engineMessage == nil)
        #expect(garbage.body == "<html>oops")
    }

    @Test func createBodyUsesTheEngineFieldNames() throws {
        let config = ContainerConfig(
            user: "1000:1000", tty: true, image: "x",
            hostConfig: HostConfig(
                capDrop: ["ALL"],
                mounts: [Mount(type: .bind, source: "/a", target: "/workspace", bindOptions: .init(propagation: .rslave))],
                memory: 1, memorySwap: 1, pidsLimit: 5, init: true))
        let json = String(decoding: try JSONCoding.encoder.encode(config), as: UTF8.self)
        #expect(json.contains(#""CapDrop":["ALL"]"#))
        #expect(json.contains(#""Propagation":"rslave""#))
        #expect(json.contains(#""Init":true"#))
        #expect(json.contains(#""PidsLimit":5"#))
        // Unset fields are left out, not sent as null: an explicit null can mean "unlimited".
        #expect(!json.contains("null"))
        #expect(!json.contains("Binds"))
        #expect(!json.contains("MaskedPaths"))
    }
}

/// An async sequence over fixed chunks.
struct ChunkSequence: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let chunks: [ByteBuffer]

    struct AsyncIterator: AsyncIteratorProtocol {
        var remaining: ArraySlice<ByteBuffer>

        mutating func next() async throws -> ByteBuffer? {
            remaining.popFirst()
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(remaining: chunks[...])
    }
}
