import Testing

@testable import TOMLConfig

/// A header toml++ cannot take aborts the process (an assertion in the parser); these must come
/// back as syntax errors instead, and valid documents must not be refused.
@Suite("TOML headers the parser cannot take")
struct TOMLHeaderCheckTests {
    @Test(arguments: ["[[[", "[.a]", "[ .a]", "[[.a]]", "[=]", "[#]", "[,]", "[!]", "[[=]]", "[[[a]]]", "[é]"])
    func aHeaderNotStartingWithAKeyIsASyntaxError(header: String) throws {
        let text = "# policy\nname = \"x\"\n\n  \(header)\nvalue = 1\n"
        guard case .failure(let error) = ConfigNode.parseTOML(text) else {
            Issue.record("\(header) was accepted")
            return
        }
        #expect(error.line == 4)
        #expect(error.message.contains("table header must start with a key"))
    }

    @Test func valuesAndStringsThatLookLikeHeadersAreLeftToTheParser() throws {
        let text = #"""
            nested = [
              [ [1], [2] ],
              [{ a = 1 }],
            ]
            text = """
            [.not a header
            [=]
            """
            literal = '''
            [!still text]
            '''
            quoted = "[.x] # not a comment"
            # [#] in a comment
            ["quoted key"]
            [a.b]
            [[list]]
            [ spaced ]
            """#
        guard case .success(let node) = ConfigNode.parseTOML(text) else {
            Issue.record("a valid document was refused: \(ConfigNode.parseTOML(text))")
            return
        }
        guard case .table(let root) = node else {
            Issue.record("the root is not a table")
            return
        }
        #expect(Set(root.keys) == ["nested", "text", "literal", "quoted", "quoted key", "a", "list", "spaced"])
    }
}
