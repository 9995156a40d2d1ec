import JSONText

// The create's body and the inspect's `Config` and `HostConfig`, read and written by `JSONText`
// (EngineJSON.swift says why). Members are written in the order of their keys' bytes, as
// `JSONEncoder`'s `.sortedKeys` writes them.

extension ContainerConfig: EngineJSONReadable, EngineJSONWritable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var config = ContainerConfig()
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .hostname: try reader.read(&config.hostname)
            case .user: try reader.read(&config.user)
            case .attachStdin: try reader.read(&config.attachStdin)
            case .attachStdout: try reader.read(&config.attachStdout)
            case .attachStderr: try reader.read(&config.attachStderr)
            case .tty: try reader.read(&config.tty)
            case .openStdin: try reader.read(&config.openStdin)
            case .stdinOnce: try reader.read(&config.stdinOnce)
            case .env: try reader.read(&config.env)
            case .cmd: try reader.read(&config.cmd)
            case .entrypoint: try reader.read(&config.entrypoint)
            case .image: try reader.read(&config.image)
            case .workingDir: try reader.read(&config.workingDir)
            case .labels: try reader.read(&config.labels)
            case .networkDisabled: try reader.read(&config.networkDisabled)
            case .stopSignal: try reader.read(&config.stopSignal)
            case .stopTimeout: try reader.read(&config.stopTimeout)
            case .hostConfig: try reader.read(&config.hostConfig)
            }
        }
        self = config
    }

    func write(to text: inout JSONText) {
        text.beginObject()
        text.member(CodingKeys.attachStderr.rawValue, attachStderr)
        text.member(CodingKeys.attachStdin.rawValue, attachStdin)
        text.member(CodingKeys.attachStdout.rawValue, attachStdout)
        text.member(CodingKeys.cmd.rawValue, cmd)
        text.member(CodingKeys.entrypoint.rawValue, entrypoint)
        text.member(CodingKeys.env.rawValue, env)
        text.member(CodingKeys.hostConfig.rawValue, hostConfig)
        text.member(CodingKeys.hostname.rawValue, hostname)
        text.member(CodingKeys.image.rawValue, image)
        text.member(CodingKeys.labels.rawValue, labels)
        text.member(CodingKeys.networkDisabled.rawValue, networkDisabled)
        text.member(CodingKeys.openStdin.rawValue, openStdin)
        text.member(CodingKeys.stdinOnce.rawValue, stdinOnce)
        text.member(CodingKeys.stopSignal.rawValue, stopSignal)
        text.member(CodingKeys.stopTimeout.rawValue, stopTimeout)
        text.member(CodingKeys.tty.rawValue, tty)
        text.member(CodingKeys.user.rawValue, user)
        text.member(CodingKeys.workingDir.rawValue, workingDir)
        text.endObject()
    }
}

extension HostConfig: EngineJSONReadable, EngineJSONWritable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var host = HostConfig()
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .privileged: try reader.read(&host.privileged)
            case .capAdd: try reader.read(&host.capAdd)
            case .capDrop: try reader.read(&host.capDrop)
            case .securityOpt: try reader.read(&host.securityOpt)
            case .networkMode: try reader.read(&host.networkMode)
            case .ipcMode: try reader.read(&host.ipcMode)
            case .pidMode: try reader.read(&host.pidMode)
            case .utsMode: try reader.read(&host.utsMode)
            case .usernsMode: try reader.read(&host.usernsMode)
            case .cgroupnsMode: try reader.read(&host.cgroupnsMode)
            case .readonlyRootfs: try reader.read(&host.readonlyRootfs)
            case .tmpfs: try reader.read(&host.tmpfs)
            case .mounts: try reader.read(&host.mounts)
            case .binds: try reader.read(&host.binds)
            case .volumesFrom: try reader.read(&host.volumesFrom)
            case .memory: try reader.read(&host.memory)
            case .memorySwap: try reader.read(&host.memorySwap)
            case .memorySwappiness: try reader.read(&host.memorySwappiness)
            case .nanoCpus: try reader.read(&host.nanoCpus)
            case .pidsLimit: try reader.read(&host.pidsLimit)
            case .ulimits: try reader.read(&host.ulimits)
            case .devices: try reader.read(&host.devices)
            case .deviceCgroupRules: try reader.read(&host.deviceCgroupRules)
            case .oomScoreAdj: try reader.read(&host.oomScoreAdj)
            case .logConfig: try reader.read(&host.logConfig)
            case .`init`: try reader.read(&host.`init`)
            case .maskedPaths: try reader.read(&host.maskedPaths)
            case .readonlyPaths: try reader.read(&host.readonlyPaths)
            case .restartPolicy: try reader.read(&host.restartPolicy)
            case .autoRemove: try reader.read(&host.autoRemove)
            case .shmSize: try reader.read(&host.shmSize)
            case .sysctls: try reader.read(&host.sysctls)
            case .runtime: try reader.read(&host.runtime)
            case .extraHosts: try reader.read(&host.extraHosts)
            case .portBindings: try reader.read(&host.portBindings)
            case .publishAllPorts: try reader.read(&host.publishAllPorts)
            case .groupAdd: try reader.read(&host.groupAdd)
            case .oomKillDisable: try reader.read(&host.oomKillDisable)
            }
        }
        self = host
    }

    func write(to text: inout JSONText) {
        text.beginObject()
        text.member(CodingKeys.autoRemove.rawValue, autoRemove)
        text.member(CodingKeys.binds.rawValue, binds)
        text.member(CodingKeys.capAdd.rawValue, capAdd)
        text.member(CodingKeys.capDrop.rawValue, capDrop)
        text.member(CodingKeys.cgroupnsMode.rawValue, cgroupnsMode)
        text.member(CodingKeys.deviceCgroupRules.rawValue, deviceCgroupRules)
        text.member(CodingKeys.devices.rawValue, devices)
        text.member(CodingKeys.extraHosts.rawValue, extraHosts)
        text.member(CodingKeys.groupAdd.rawValue, groupAdd)
        text.member(CodingKeys.`init`.rawValue, `init`)
        text.member(CodingKeys.ipcMode.rawValue, ipcMode)
        text.member(CodingKeys.logConfig.rawValue, logConfig)
        text.member(CodingKeys.maskedPaths.rawValue, maskedPaths)
        text.member(CodingKeys.memory.rawValue, memory)
        text.member(CodingKeys.memorySwap.rawValue, memorySwap)
        text.member(CodingKeys.memorySwappiness.rawValue, memorySwappiness)
        text.member(CodingKeys.mounts.rawValue, mounts)
        text.member(CodingKeys.nanoCpus.rawValue, nanoCpus)
        text.member(CodingKeys.networkMode.rawValue, networkMode)
        text.member(CodingKeys.oomKillDisable.rawValue, oomKillDisable)
        text.member(CodingKeys.oomScoreAdj.rawValue, oomScoreAdj)
        text.member(CodingKeys.pidMode.rawValue, pidMode)
        text.member(CodingKeys.pidsLimit.rawValue, pidsLimit)
        if let portBindings {
            text.key(CodingKeys.portBindings.rawValue)
            text.beginObject()
            for port in portBindings.keys.sorted(by: JSONText.precedes) {
                text.key(port)
                if let bindings = portBindings[port]! {
                    text.beginArray()
                    for binding in bindings { binding.write(to: &text) }
                    text.endArray()
                } else {
                    text.null()
                }
            }
            text.endObject()
        }
        text.member(CodingKeys.privileged.rawValue, privileged)
        text.member(CodingKeys.publishAllPorts.rawValue, publishAllPorts)
        text.member(CodingKeys.readonlyPaths.rawValue, readonlyPaths)
        text.member(CodingKeys.readonlyRootfs.rawValue, readonlyRootfs)
        text.member(CodingKeys.restartPolicy.rawValue, restartPolicy)
        text.member(CodingKeys.runtime.rawValue, runtime)
        text.member(CodingKeys.securityOpt.rawValue, securityOpt)
        text.member(CodingKeys.shmSize.rawValue, shmSize)
        text.member(CodingKeys.sysctls.rawValue, sysctls)
        text.member(CodingKeys.tmpfs.rawValue, tmpfs)
        text.member(CodingKeys.utsMode.rawValue, utsMode)
        text.member(CodingKeys.ulimits.rawValue, ulimits)
        text.member(CodingKeys.usernsMode.rawValue, usernsMode)
        text.member(CodingKeys.volumesFrom.rawValue, volumesFrom)
        text.endObject()
    }
}

extension Mount: EngineJSONReadable, EngineJSONWritable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var type: Kind?
        var target: String?
        var mount = Mount(type: .bind, target: "")
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .type: try reader.read(&type)
            case .source: try reader.read(&mount.source)
            case .target: try reader.read(&target)
            case .readOnly: try reader.read(&mount.readOnly)
            case .bindOptions: try reader.read(&mount.bindOptions)
            case .tmpfsOptions: try reader.read(&mount.tmpfsOptions)
            }
        }
        mount.type = try reader.required(type, CodingKeys.type)
        mount.target = try reader.required(target, CodingKeys.target)
        self = mount
    }

    func write(to text: inout JSONText) {
        text.beginObject()
        text.member(CodingKeys.bindOptions.rawValue, bindOptions)
        text.member(CodingKeys.readOnly.rawValue, readOnly)
        text.member(CodingKeys.source.rawValue, source)
        text.member(CodingKeys.target.rawValue, target)
        text.member(CodingKeys.tmpfsOptions.rawValue, tmpfsOptions)
        text.member(CodingKeys.type.rawValue, type)
        text.endObject()
    }
}

extension Mount.Kind: EngineJSONReadable {}
extension Mount.Propagation: EngineJSONReadable {}

extension Mount.BindOptions: EngineJSONReadable, EngineJSONWritable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var options = Mount.BindOptions()
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .propagation: try reader.read(&options.propagation)
            case .nonRecursive: try reader.read(&options.nonRecursive)
            }
        }
        self = options
    }

    func write(to text: inout JSONText) {
        text.beginObject()
        text.member(CodingKeys.nonRecursive.rawValue, nonRecursive)
        text.member(CodingKeys.propagation.rawValue, propagation)
        text.endObject()
    }
}

extension Mount.TmpfsOptions: EngineJSONReadable, EngineJSONWritable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var options = Mount.TmpfsOptions()
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .sizeBytes: try reader.read(&options.sizeBytes)
            case .mode: try reader.read(&options.mode)
            }
        }
        self = options
    }

    func write(to text: inout JSONText) {
        text.beginObject()
        text.member(CodingKeys.mode.rawValue, mode)
        text.member(CodingKeys.sizeBytes.rawValue, sizeBytes)
        text.endObject()
    }
}

extension Ulimit: EngineJSONReadable, EngineJSONWritable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var name: String?
        var soft: Int64?
        var hard: Int64?
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .name: try reader.read(&name)
            case .soft: try reader.read(&soft)
            case .hard: try reader.read(&hard)
            }
        }
        self.init(
            name: try reader.required(name, CodingKeys.name), soft: try reader.required(soft, CodingKeys.soft),
            hard: try reader.required(hard, CodingKeys.hard))
    }

    func write(to text: inout JSONText) {
        text.beginObject()
        text.member(CodingKeys.hard.rawValue, hard)
        text.member(CodingKeys.name.rawValue, name)
        text.member(CodingKeys.soft.rawValue, soft)
        text.endObject()
    }
}

extension DeviceMapping: EngineJSONReadable, EngineJSONWritable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var device = DeviceMapping()
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .pathOnHost: try reader.read(&device.pathOnHost)
            case .pathInContainer: try reader.read(&device.pathInContainer)
            case .cgroupPermissions: try reader.read(&device.cgroupPermissions)
            }
        }
        self = device
    }

    func write(to text: inout JSONText) {
        text.beginObject()
        text.member(CodingKeys.cgroupPermissions.rawValue, cgroupPermissions)
        text.member(CodingKeys.pathInContainer.rawValue, pathInContainer)
        text.member(CodingKeys.pathOnHost.rawValue, pathOnHost)
        text.endObject()
    }
}

extension LogConfig: EngineJSONReadable, EngineJSONWritable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var type: String?
        var config: [String: String]?
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .type: try reader.read(&type)
            case .config: try reader.read(&config)
            }
        }
        self.init(type: try reader.required(type, CodingKeys.type), config: config)
    }

    func write(to text: inout JSONText) {
        text.beginObject()
        text.member(CodingKeys.config.rawValue, config)
        text.member(CodingKeys.type.rawValue, type)
        text.endObject()
    }
}

extension RestartPolicy: EngineJSONReadable, EngineJSONWritable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var name: String?
        var maximumRetryCount: Int?
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .name: try reader.read(&name)
            case .maximumRetryCount: try reader.read(&maximumRetryCount)
            }
        }
        self.init(name: try reader.required(name, CodingKeys.name), maximumRetryCount: maximumRetryCount)
    }

    func write(to text: inout JSONText) {
        text.beginObject()
        text.member(CodingKeys.maximumRetryCount.rawValue, maximumRetryCount)
        text.member(CodingKeys.name.rawValue, name)
        text.endObject()
    }
}

extension PortBinding: EngineJSONReadable, EngineJSONWritable {
    init(reading reader: inout JSONReader) throws(JSONText.ReadError) {
        var hostIp: String?
        var hostPort: String?
        try reader.fields(CodingKeys.self) { reader, key throws(JSONText.ReadError) in
            switch key {
            case .hostIp: try reader.read(&hostIp)
            case .hostPort: try reader.read(&hostPort)
            }
        }
        self.init(hostIp: hostIp, hostPort: hostPort)
    }

    func write(to text: inout JSONText) {
        text.beginObject()
        text.member(CodingKeys.hostIp.rawValue, hostIp)
        text.member(CodingKeys.hostPort.rawValue, hostPort)
        text.endObject()
    }
}
