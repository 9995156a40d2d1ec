// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Sandcastle",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "DockerEngine", targets: ["DockerEngine"]),
        .library(name: "SandboxPolicy", targets: ["SandboxPolicy"]),
        .library(name: "WorkspaceQuota", targets: ["WorkspaceQuota"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
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
            name: "CCap",
            pkgConfig: "libcap",
            providers: [.apt(["libcap-dev"])]
        ),

        .target(
            name: "DockerEngine",
            dependencies: [
                "CCurl",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "DockerEngineTests",
            dependencies: ["DockerEngine"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "DockerEngineIntegrationTests",
            dependencies: ["DockerEngine"]
        ),

        .target(
            name: "SandboxPolicy",
            dependencies: [
                "DockerEngine",
                "CSeccomp",
                "CCap",
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        .testTarget(
            name: "SandboxPolicyTests",
            dependencies: ["SandboxPolicy", "DockerEngine"],
            resources: [.copy("Fixtures")]
        ),

        // Workspace size limits: ext4 images loop-mounted on workspaces. Apart from SandboxPolicy
        // because it alone runs privileged tools (mount, mkfs) and needs CAP_SYS_ADMIN.
        // glibc calls Swift does not import (declared only under _GNU_SOURCE).
        .target(name: "CLinuxShims"),
        .target(
            name: "WorkspaceQuota",
            dependencies: [
                "SandboxPolicy",
                "CLinuxShims",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "WorkspaceQuotaTests",
            dependencies: ["WorkspaceQuota", "SandboxPolicy"]
        ),
        .testTarget(
            name: "WorkspaceQuotaIntegrationTests",
            dependencies: [
                "WorkspaceQuota", "SandboxPolicy",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
