// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Sandcastle",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "DockerEngine", targets: ["DockerEngine"]),
        .library(name: "SandboxPolicy", targets: ["SandboxPolicy"]),
        .library(name: "SessionStore", targets: ["SessionStore"]),
        .library(name: "Sessions", targets: ["Sessions"]),
        .library(name: "Workspaces", targets: ["Workspaces"]),
        .library(name: "SandcastleConfig", targets: ["SandcastleConfig"]),
        .library(name: "AccessControl", targets: ["AccessControl"]),
        .library(name: "TerminalRelay", targets: ["TerminalRelay"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
    ],
    targets: [
        // C libraries: each imported by exactly one wrapper target.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CSeccomp",
            pkgConfig: "libseccomp",
            providers: [.apt(["libseccomp-dev"])]
        ),
        .systemLibrary(
            name: "CArchive",
            pkgConfig: "libarchive",
            providers: [.apt(["libarchive-dev"])]
        ),
        .systemLibrary(
            name: "CCap",
            pkgConfig: "libcap",
            providers: [.apt(["libcap-dev"])]
        ),
        .systemLibrary(
            name: "CVTerm",
            pkgConfig: "vterm",
            providers: [.apt(["libvterm-dev"])]
        ),

        .target(
            name: "DockerEngine",
            dependencies: [
                "CCurl",
                "JSONText",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "DockerEngineTests",
            dependencies: ["DockerEngine", .product(name: "NIOCore", package: "swift-nio")],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "DockerEngineIntegrationTests",
            dependencies: ["DockerEngine", "SandcastleTestSupport", .product(name: "NIOCore", package: "swift-nio")]
        ),

        // JSON text for the launch path's small documents, byte for byte as JSONEncoder writes it.
        .target(name: "JSONText"),
        .testTarget(name: "JSONTextTests", dependencies: ["JSONText"]),

        // The TOML reading both the daemon's configuration and the policies use: typed tables that
        // report every problem with its field and line.
        .target(
            name: "TOMLConfig",
            dependencies: ["JSONText", .product(name: "TOMLKit", package: "TOMLKit")]
        ),
        .testTarget(
            name: "TOMLConfigTests",
            dependencies: ["TOMLConfig", "JSONText"]
        ),

        // Egress allow lists and the decisions on them: host patterns, CIDR blocks, port ranges and
        // the address ranges a sandbox never reaches unless listed. Pure: no I/O, no resolver.
        .target(name: "EgressPolicy"),
        .testTarget(name: "EgressPolicyTests", dependencies: ["EgressPolicy"]),
        // The daemon's egress proxy: a unix socket per session, HTTP CONNECT and absolute-form
        // requests, names resolved and every address checked by the daemon, bytes relayed on
        // NIO event loops.
        .target(
            name: "EgressProxy",
            dependencies: [
                "EgressPolicy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Egress end to end: the real daemon, a session container, servers in a network namespace.
        .testTarget(
            name: "EgressIntegrationTests",
            dependencies: ["SandcastleTestSupport", "sandcastled"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "EgressProxyTests",
            dependencies: [
                "EgressProxy", "EgressPolicy",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),

        // Pure policy: profiles, session requests and their identifiers, seccomp, capabilities, and
        // the container spec with its read-back. No I/O beyond loading the policy files.
        .target(
            name: "SandboxPolicy",
            dependencies: [
                "DockerEngine",
                "EgressPolicy",
                "TOMLConfig",
                "CSeccomp",
                "CCap",
            ]
        ),
        .testTarget(
            name: "SandboxPolicyTests",
            dependencies: ["SandboxPolicy", "TOMLConfig", "DockerEngine", "SandcastleTestSupport"],
            resources: [.copy("Fixtures")]
        ),

        // The daemon's configuration file: what both sandcastled and the operator CLI read.
        .target(
            name: "SandcastleConfig",
            dependencies: ["TOMLConfig", "DockerEngine"]
        ),
        .testTarget(
            name: "SandcastleConfigTests",
            dependencies: ["SandcastleConfig", "DockerEngine"]
        ),

        // Persistence of sessions and the event log. No Docker knowledge here.
        .target(
            name: "SessionStore",
            dependencies: [
                "JSONText",
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, for what GRDB keeps internal: binding values the store already
                // holds, and resetting a statement its own cursor steps (`Database+Cached.swift`).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SessionStoreTests",
            dependencies: [
                "SessionStore",
                // Tests open the file directly to hold locks and inspect pragmas.
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")]
        ),

        // The domain: the session manager (lifecycle, crash-safe launch, reconciliation, engine
        // events, reaping), the warm pool, and the seams to the engine and the terminals.
        .target(
            name: "Sessions",
            dependencies: [
                "JSONText",
                "AccessControl",
                "DockerEngine",
                "EgressPolicy",
                "SandboxPolicy",
                "SessionStore",
                "Workspaces",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Hosts a bare session manager in a process of its own, for the crash tests: SIGKILL in
        // the middle of launches, then a restart that reconciles.
        .executableTarget(
            name: "sandcastle-session-host",
            dependencies: [
                "Sessions", "SessionStore", "SandboxPolicy", "Workspaces", "DockerEngine",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Fixtures shared by the test targets: a session manager on the real engine, the
        // in-memory engine, the sandcastled process, Docker-in-Docker, the engine-needed trait.
        .target(
            name: "SandcastleTestSupport",
            dependencies: [
                "Sessions", "SessionStore", "SandboxPolicy", "Workspaces", "DockerEngine", "TerminalRelay", "SandcastleDaemon",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Tests/SandcastleTestSupport"
        ),
        .testTarget(
            name: "SessionsIntegrationTests",
            dependencies: [
                "Sessions",
                "SessionStore",
                "SandboxPolicy",
                "Workspaces",
                "DockerEngine",
                "SandcastleTestSupport", "sandcastle-session-host",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SessionsTests",
            dependencies: [
                "Sessions", "SessionStore", "SandboxPolicy", "Workspaces", "DockerEngine", "SandcastleTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The warm pool on a real engine with real slot mounts: run inside Docker-in-Docker only.
        .testTarget(
            name: "WarmPoolIntegrationTests",
            dependencies: [
                "Sessions", "SessionStore", "SandboxPolicy", "DockerEngine", "SandcastleTestSupport", "sandcastled",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "SandboxIntegrationTests",
            dependencies: ["Sessions", "SandboxPolicy", "Workspaces", "DockerEngine", "SandcastleTestSupport", "EgressProxy", .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio")]
        ),
        // glibc calls Swift does not import (declared only under _GNU_SOURCE).
        .target(name: "CLinuxShims"),
        // Workspaces on the host: resolving a name to a directory without following symlinks,
        // deleting one, and limiting its size (ext4 images loop-mounted on it, which runs
        // privileged tools and needs CAP_SYS_ADMIN). All of it is blocking file-system work.
        .target(
            name: "Workspaces",
            dependencies: [
                "SandboxPolicy",
                "TOMLConfig",
                "CLinuxShims",
                "CArchive",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "WorkspacesTests",
            dependencies: [
                "Workspaces", "SandboxPolicy", "SandcastleTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "WorkspacesIntegrationTests",
            dependencies: [
                "Workspaces", "SandboxPolicy", "SandcastleTestSupport", "SandcastleClient", "sandcastled",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // scripts/dind (Docker-in-Docker, for tests that mount) and the warm pool's rslave slot binds in it.
        .testTarget(
            name: "DinDIntegrationTests",
            dependencies: ["SandcastleTestSupport", "DockerEngine"]
        ),

        // The HTTP control API, the terminal WebSocket and the event stream (Hummingbird).
        .target(
            name: "SandcastleAPI",
            dependencies: [
                "JSONText",
                "EgressPolicy", "Sessions", "SessionStore", "SandboxPolicy", "DockerEngine", "AccessControl", "TerminalRelay",
                "TerminalScreen", "Workspaces",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            // In the binary (`PackageResources.openapi_json`), not in a bundle directory beside the
            // build: an installed daemon must not depend on where it was built.
            resources: [.embedInCode("openapi.json")]
        ),
        .testTarget(
            name: "SandcastleAPITests",
            dependencies: [
                "SandcastleAPI", "SandcastleDaemon", "SandcastleConfig", "Sessions", "SessionStore", "SandboxPolicy",
                "DockerEngine", "AccessControl", "SandcastleTestSupport", "TerminalRelay", "Workspaces", "JSONText", "EgressPolicy",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // The composition root (Sandcastle.make), the services, reload, and the glue between the
        // relay, the sessions and Prometheus; `sandcastled` is a thin wrapper.
        .target(
            name: "SandcastleDaemon",
            dependencies: [
                "DockerEngine", "SandboxPolicy", "EgressPolicy", "EgressProxy", "SessionStore", "Sessions", "Workspaces", "SandcastleConfig", "SandcastleAPI",
                "AccessControl", "TerminalRelay", "HostHardening",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // The daemon's own hardening (capabilities with libcap, a seccomp filter with libseccomp)
        // and sd_notify.
        .target(name: "HostHardening", dependencies: ["CCap", "CSeccomp"]),
        .testTarget(name: "HostHardeningTests", dependencies: ["HostHardening", "SandcastleTestSupport"]),
        .executableTarget(
            name: "sandcastled",
            dependencies: ["SandcastleDaemon", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "SandcastleDaemonTests",
            dependencies: [
                "SandcastleDaemon", "DockerEngine", "sandcastled", "HostHardening", "AccessControl", "SandcastleTestSupport", "SessionStore", "SandcastleConfig", "SandcastleBench",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // The typed client of the daemon's API: HTTP and the terminal WebSocket over a unix socket
        // or TCP, on SwiftNIO alone (no engine, no store).
        .target(
            name: "SandcastleClient",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        // The operator CLI's commands; `sandcastle` is a thin wrapper. `doctor` reads the daemon's
        // configuration (never linking the daemon) and asks the engine directly, `policy check`
        // validates offline.
        .target(
            name: "SandcastleCLI",
            dependencies: [
                "SandcastleClient", "SandcastleConfig", "SandboxPolicy", "DockerEngine", "Workspaces",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "sandcastle",
            dependencies: ["SandcastleCLI"]
        ),
        .testTarget(
            name: "SandcastleCLITests",
            dependencies: [
                "SandcastleCLI", "SandcastleClient", "DockerEngine", "SandcastleTestSupport", "sandcastle", "sandcastled",
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),

        // API keys and roles, attach tokens, rate limits: pure logic, no HTTP.
        .target(
            name: "AccessControl",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .testTarget(
            name: "AccessControlTests",
            dependencies: ["AccessControl", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Per-session PTY fan-out: one engine attach per session, scrollback ring, viewers with
        // roles and bounded queues, resize and signals. The WebSocket layer is built on top of it.
        // A terminal's screen as libvterm keeps it: fed bytes, it answers with a text snapshot and
        // the escape sequences that draw the same screen on a fresh terminal.
        .target(
            name: "TerminalScreen",
            dependencies: ["CVTerm"]
        ),
        .testTarget(
            name: "TerminalScreenTests",
            dependencies: ["TerminalScreen"]
        ),
        .target(
            name: "TerminalRelay",
            dependencies: [
                "DockerEngine",
                "TerminalScreen",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "TerminalRelayTests",
            dependencies: [
                "TerminalRelay", "TerminalScreen", "DockerEngine", "SandcastleTestSupport",
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),

        // The benchmark: the daemon side by side with the raw engine. A library so that
        // its pure logic (statistics, targets, the report) is tested; `sandcastle-bench` is thin.
        .target(
            name: "SandcastleBench",
            dependencies: [
                "TerminalScreen",
                "DockerEngine", "SandboxPolicy", "SandcastleClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ]
        ),
        .executableTarget(
            name: "sandcastle-bench",
            dependencies: [
                "SandcastleBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SandcastleBenchTests",
            dependencies: ["SandcastleBench"]
        ),
    ],
    swiftLanguageModes: [.v6]
)
