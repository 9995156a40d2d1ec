import Testing

@testable import SessionStore

@Suite("The session state machine (pure)")
struct SessionStateTests {
    /// The table as documented on `SessionState`, spelled out independently of the code.
    static let documented: [SessionState: Set<SessionState>] = [
        .creating: [.starting, .failed, .exited, .removed],
        .starting: [.running, .failed, .exited, .stopping, .removed],
        .running: [.stopping, .exited, .removed],
        .stopping: [.exited, .removed],
        .exited: [.starting, .removed],
        .failed: [.removed],
        .removed: [],
    ]

    @Test("every one of the 49 (from, to) pairs is allowed exactly when the documented table says so")
    func tableMatchesDocumentation() {
        for from in SessionState.allCases {
            for to in SessionState.allCases {
                let expected = Self.documented[from, default: []].contains(to)
                #expect(from.canTransition(to: to) == expected, "\(from) -> \(to)")
            }
        }
    }

    @Test("no state moves to itself; removed is the only terminal state")
    func noSelfLoopsAndOneTerminal() {
        for state in SessionState.allCases {
            #expect(!state.canTransition(to: state))
        }
        #expect(SessionState.allCases.filter(\.isTerminal) == [.removed])
    }

    @Test("every state is reachable from creating, and every state can reach removed")
    func reachability() {
        func reachable(from start: SessionState) -> Set<SessionState> {
            var seen: Set<SessionState> = [start]
            var queue = [start]
            while let state = queue.popLast() {
                for next in state.successors where seen.insert(next).inserted { queue.append(next) }
            }
            return seen
        }
        #expect(reachable(from: .creating) == Set(SessionState.allCases))
        for state in SessionState.allCases {
            #expect(reachable(from: state).contains(.removed), "\(state) cannot be cleaned up")
        }
    }

    @Test("the live states are those a container may exist for")
    func liveStates() {
        #expect(SessionState.live == [.creating, .starting, .running, .stopping])
    }

    @Test("generated ids are valid, distinct and 26 characters; client ids are checked")
    func sessionIDs() {
        let ids = (0..<1000).map { _ in SessionID.generate() }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.count == 26 && SessionID.isValid($0) })
        for good in ["a", "build-42", "A.b_c-9", String(repeating: "x", count: 128)] {
            #expect(SessionID.isValid(good), "\(good)")
        }
        for bad in ["", "-x", ".x", "a/b", "a b", "ü", "x;rm", String(repeating: "x", count: 129)] {
            #expect(!SessionID.isValid(bad), "\(bad)")
        }
    }
}
