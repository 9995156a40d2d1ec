/// `POST /containers/{id}/exec` body.
public struct ExecConfig: Codable, Sendable, Equatable {
    public var attachStdin: Bool
    public var attachStdout: Bool
    public var attachStderr: Bool
    public var tty: Bool
    public var cmd: [String]
    public var env: [String]?
    public var user: String?
    public var workingDir: String?
    /// Always false: Sandcastle never runs privileged execs.
    public var privileged: Bool = false

    public init(
        cmd: [String], tty: Bool, attachStdin: Bool = true, attachStdout: Bool = true,
        attachStderr: Bool = true, env: [String]? = nil, user: String? = nil, workingDir: String? = nil
    ) {
        self.cmd = cmd
        self.tty = tty
        self.attachStdin = attachStdin
        self.attachStdout = attachStdout
        self.attachStderr = attachStderr
        self.env = env
        self.user = user
        self.workingDir = workingDir
    }

    enum CodingKeys: String, CodingKey {
        case attachStdin = "AttachStdin"
        case attachStdout = "AttachStdout"
        case attachStderr = "AttachStderr"
        case tty = "Tty"
        case cmd = "Cmd"
        case env = "Env"
        case user = "User"
        case workingDir = "WorkingDir"
        case privileged = "Privileged"
    }
}

/// `POST /containers/{id}/exec` answer.
struct ExecCreateResponse: Codable {
    var id: String

    enum CodingKeys: String, CodingKey {
        case id = "Id"
    }
}

/// `GET /exec/{id}/json`.
public struct ExecInspect: Codable, Sendable, Equatable {
    public var id: String
    public var running: Bool
    public var exitCode: Int?
    public var pid: Int?
    public var containerID: String?
    public var openStdin: Bool?

    enum CodingKeys: String, CodingKey {
        case id = "ID"
        case running = "Running"
        case exitCode = "ExitCode"
        case pid = "Pid"
        case containerID = "ContainerID"
        case openStdin = "OpenStdin"
    }
}
