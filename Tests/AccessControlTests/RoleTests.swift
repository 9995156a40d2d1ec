import Testing

@testable import AccessControl

@Suite struct RoleTests {
    /// The whole matrix, written out: a change to any role's permissions must change this table.
    static let expected: [Role: Set<Permission>] = [
        .viewer: [.sessionView, .workspaceRead],
        .developer: [.sessionView, .sessionCreate, .sessionStart, .sessionStop, .sessionAttach, .workspaceRead, .workspaceWrite],
        .admin: [
            .sessionView, .sessionCreate, .sessionStart, .sessionStop, .sessionAttach, .workspaceRead, .workspaceWrite, .admin,
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
            "session:view", "session:create", "session:start", "session:stop", "session:attach", "workspace:read",
            "workspace:write", "admin",
        ])
        #expect(Role.allCases.map(\.rawValue) == ["viewer", "developer", "admin"])
    }

    @Test func onlyAdminHasAdmin() {
        #expect(Role.allCases.filter { $0.permits(.admin) } == [.admin])
    }
}
