import Testing

@testable import AccessControl

@Suite struct RoleTests {
    /// The whole matrix, written out: a change to any role's permissions must change this table.
    static let expected: [Role: Set<Permission>] = [
        .viewer: [.sessionView, .sessionWatch, .workspaceRead],
        .developer: [
            .sessionView, .sessionCreate, .sessionStart, .sessionStop, .sessionAttach, .sessionWatch, .sessionExec,
            .workspaceRead, .workspaceWrite,
        ],
        .admin: [
            .sessionView, .sessionCreate, .sessionStart, .sessionStop, .sessionAttach, .sessionWatch, .sessionExec,
            .workspaceRead, .workspaceWrite, .admin,
        ],
    ]

    @Test(arguments: Role.allCases, Permission.allCases)
    func permissionMatrix(role: Role, permission: Permission) {
        let granted = Self.expected[role]?.contains(permission) ?? false
        #expect(role.permits(permission) == granted, "\(role) / \(permission.rawValue)")
        #expect(Principal(name: "k", role: role).permits(permission) == granted)
    }

    @Test func permissionStringsAreTheDocumentedOnes() {
        #expect(Permission.allCases.map(\.rawValue) == [
            "session:view", "session:create", "session:start", "session:stop", "session:attach", "session:watch",
            "session:exec", "workspace:read", "workspace:write", "admin",
        ])
        #expect(Role.allCases.map(\.rawValue) == ["viewer", "developer", "admin"])
    }

    @Test("a viewer may mint ro attach tokens, never rw")
    func viewerWatchesButNeverTypes() {
        let viewer = Principal(name: "v", role: .viewer)
        #expect(viewer.permits(AttachRole.readOnly.mintPermission))
        #expect(!viewer.permits(AttachRole.readWrite.mintPermission))
        let developer = Principal(name: "d", role: .developer)
        #expect(AttachRole.allCases.allSatisfy { developer.permits($0.mintPermission) })
    }

    @Test func onlyAdminHasAdmin() {
        #expect(Role.allCases.filter { $0.permits(.admin) } == [.admin])
    }
}
