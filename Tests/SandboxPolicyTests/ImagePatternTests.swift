import Testing

@testable import SandboxPolicy

@Suite("Image references and patterns")
struct ImagePatternTests {
    func reference(_ text: String) throws -> ImageReference {
        try ImageReference.parse(text).get()
    }

    func pattern(_ text: String) throws -> ImagePattern {
        try ImagePattern.parse(text).get()
    }

    @Test(
        "references need a tag or a digest",
        arguments: [
            ("sandcastle/agent:1.0", true), ("registry.example:5000/team/agent:v2", true),
            ("sandcastle/agent@sha256:" + String(repeating: "a", count: 64), true),
            ("sandcastle/agent:1@sha256:" + String(repeating: "0", count: 64), true),
            ("localhost/agent:dev", true), ("sandcastle/agent", false), ("sandcastle/Agent:1", false),
            ("sandcastle/agent@sha256:abc", false), ("sandcastle//agent:1", false), ("-agent:1", false),
            ("sandcastle/agent:.hidden", false), ("", false), ("agent:1 ", false), ("sandcastle/agent:*", false),
            // A combining mark after a separator is part of what follows it, never dropped.
            ("agent:\u{301}1", false), ("agent\u{301}:1", false), ("agent/\u{301}x:1", false),
            ("agent@\u{301}sha256:" + String(repeating: "a", count: 64), false),
            ("registry.example:\u{301}5000/agent:1", false),
        ])
    func references(text: String, valid: Bool) {
        #expect(((try? ImageReference.parse(text).get()) != nil) == valid, "\(text)")
    }

    @Test("patterns: * stays inside one component, tag or digest")
    func matching() throws {
        let tags = try pattern("sandcastle/*:*")
        #expect(tags.matches(try reference("sandcastle/agent:1.0")))
        #expect(tags.matches(try reference("sandcastle/python-3.12:latest")))
        #expect(!tags.matches(try reference("sandcastle/team/agent:1")))
        #expect(!tags.matches(try reference("evil/sandcastle/agent:1")))
        #expect(!tags.matches(try reference("sandcastle/agent@sha256:" + String(repeating: "a", count: 64))))
        #expect(!tags.matches(try reference("registry.example/sandcastle/agent:1")))

        let digests = try pattern("sandcastle/*@sha256:*")
        #expect(digests.matches(try reference("sandcastle/agent@sha256:" + String(repeating: "b", count: 64))))
        #expect(!digests.matches(try reference("sandcastle/agent:1")))

        let exact = try pattern("ghcr.io/acme/agent:1.*")
        #expect(exact.matches(try reference("ghcr.io/acme/agent:1.2.3")))
        #expect(!exact.matches(try reference("ghcr.io/acme/agent:2.0")))
    }

    @Test(
        "patterns without a tag or digest, or only wildcards, are refused",
        arguments: ["sandcastle/*", "*:*", "*/*:*", "*@sha256:*"])
    func refusedPatterns(text: String) {
        #expect((try? ImagePattern.parse(text).get()) == nil)
    }
}
