import JSONText

// The engine's answers on a launch's and an exec's paths, and the exec's body, read and written
// by `JSONText` (EngineJSON.swift says why).

extension ContainerCreateResponse: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var id: String?
        var warnings: [String]?
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .id: try reader.read(&id)
            case .warnings: try reader.read(&warnings)
            }
        }
        self.init(id: try reader.required(id, CodingKeys.id), warnings: warnings)
    }
}

extension ContainerInspect: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var id: String?
        var name: String?
        var state: ContainerState?
        var created: String?
        var path: String?
        var args: [String]?
        var image: String?
        var config: ContainerConfig?
        var hostConfig: HostConfig?
        var mounts: [MountPoint]?
        var restartCount: Int?
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .id: try reader.read(&id)
            case .name: try reader.read(&name)
            case .created: try reader.read(&created)
            case .path: try reader.read(&path)
            case .args: try reader.read(&args)
            case .state: try reader.read(&state)
            case .image: try reader.read(&image)
            case .config: try reader.read(&config)
            case .hostConfig: try reader.read(&hostConfig)
            case .mounts: try reader.read(&mounts)
            case .restartCount: try reader.read(&restartCount)
            }
        }
        self.init(
            id: try reader.required(id, CodingKeys.id), name: try reader.required(name, CodingKeys.name), created: created,
            path: path, args: args, state: try reader.required(state, CodingKeys.state), image: image, config: config,
            hostConfig: hostConfig, mounts: mounts, restartCount: restartCount)
    }
}

extension ContainerState: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var status: String?
        var running: Bool?
        var paused: Bool?
        var restarting: Bool?
        var oomKilled: Bool?
        var dead: Bool?
        var pid: Int?
        var exitCode: Int?
        var error: String?
        var startedAt: String?
        var finishedAt: String?
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .status: try reader.read(&status)
            case .running: try reader.read(&running)
            case .paused: try reader.read(&paused)
            case .restarting: try reader.read(&restarting)
            case .oomKilled: try reader.read(&oomKilled)
            case .dead: try reader.read(&dead)
            case .pid: try reader.read(&pid)
            case .exitCode: try reader.read(&exitCode)
            case .error: try reader.read(&error)
            case .startedAt: try reader.read(&startedAt)
            case .finishedAt: try reader.read(&finishedAt)
            }
        }
        self.init(
            status: try reader.required(status, CodingKeys.status), running: try reader.required(running, CodingKeys.running),
            paused: paused, restarting: restarting, oomKilled: try reader.required(oomKilled, CodingKeys.oomKilled),
            dead: dead, pid: pid, exitCode: try reader.required(exitCode, CodingKeys.exitCode), error: error,
            startedAt: startedAt, finishedAt: finishedAt)
    }
}

extension MountPoint: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var destination: String?
        var mount = MountPoint(type: nil, source: nil, destination: "", rw: nil, propagation: nil)
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .type: try reader.read(&mount.type)
            case .name: try reader.read(&mount.name)
            case .source: try reader.read(&mount.source)
            case .destination: try reader.read(&destination)
            case .mode: try reader.read(&mount.mode)
            case .rw: try reader.read(&mount.rw)
            case .propagation: try reader.read(&mount.propagation)
            }
        }
        mount.destination = try reader.required(destination, CodingKeys.destination)
        self = mount
    }
}

extension ContainerWaitResponse: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var statusCode: Int?
        var error: WaitError?
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .statusCode: try reader.read(&statusCode)
            case .error: try reader.read(&error)
            }
        }
        self.init(statusCode: try reader.required(statusCode, CodingKeys.statusCode), error: error)
    }
}

extension ContainerWaitResponse.WaitError: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var message: String?
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .message: try reader.read(&message)
            }
        }
        self.init(message: message)
    }
}

extension DockerEvent: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var type: String?
        var action: String?
        var actor: Actor?
        var scope: String?
        var time: Int64?
        var timeNano: Int64?
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .type: try reader.read(&type)
            case .action: try reader.read(&action)
            case .actor: try reader.read(&actor)
            case .scope: try reader.read(&scope)
            case .time: try reader.read(&time)
            case .timeNano: try reader.read(&timeNano)
            }
        }
        self.init(
            type: try reader.required(type, CodingKeys.type), action: try reader.required(action, CodingKeys.action),
            actor: try reader.required(actor, CodingKeys.actor), scope: scope, time: time, timeNano: timeNano)
    }
}

extension DockerEvent.Actor: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var id: String?
        var attributes: [String: String]?
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .id: try reader.read(&id)
            case .attributes: try reader.read(&attributes)
            }
        }
        self.init(id: try reader.required(id, CodingKeys.id), attributes: attributes)
    }
}

extension ExecCreateResponse: EngineJSONReadable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var id: String?
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .id: try reader.read(&id)
            }
        }
        self.init(id: try reader.required(id, CodingKeys.id))
    }
}

extension ExecConfig: EngineJSONWritable {
    func write(to text: inout JSONText) {
        text.beginObject()
        text.member(CodingKeys.attachStderr.rawValue, attachStderr)
        text.member(CodingKeys.attachStdin.rawValue, attachStdin)
        text.member(CodingKeys.attachStdout.rawValue, attachStdout)
        text.member(CodingKeys.cmd.rawValue, cmd)
        text.member(CodingKeys.env.rawValue, env)
        text.member(CodingKeys.privileged.rawValue, privileged)
        text.member(CodingKeys.tty.rawValue, tty)
        text.member(CodingKeys.user.rawValue, user)
        text.member(CodingKeys.workingDir.rawValue, workingDir)
        text.endObject()
    }
}
