import Foundation
import Testing

@testable import SandcastleCLI

/// `inspect`, `ls --json` and the other JSON outputs are laid out as `docker inspect` lays out its
/// own: four spaces, `"key": value`, `[]` and `{}` on one line.
@Suite struct JSONLayoutTests {
    struct Sample: Encodable {
        var command = ["sh", "-c", "echo \"[,]\" {a:b}"]
        var envNames: [String] = []
        var labels: [String: String] = [:]
        var nested = ["team": "blue"]
        var exitCode: Int? = 0
    }

    @Test func emptyContainersStayOnOneLineAndStringsAreUntouched() throws {
        let text = try prettyJSON(Sample())
        #expect(
            text == """
                {
                    "command": [
                        "sh",
                        "-c",
                        "echo \\"[,]\\" {a:b}"
                    ],
                    "envNames": [],
                    "exitCode": 0,
                    "labels": {},
                    "nested": {
                        "team": "blue"
                    }
                }
                """)
        #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any])
        #expect(try prettyJSON([String]()) == "[]")
    }
}
