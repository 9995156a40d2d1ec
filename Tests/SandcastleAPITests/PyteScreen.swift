import Foundation
import SandcastleTestSupport

/// A screen as pyte (Debian's `python3-pyte`), an emulator independent of the daemon's libvterm,
/// draws it from a byte stream: what a client that received those bytes would show.
struct PyteScreen: Decodable, Equatable, CustomStringConvertible {
    /// One string per row, trailing blanks removed.
    var lines: [String]
    /// Row, column.
    var cursor: [Int]
    var hidden: Bool
    /// Per cell, row by row: foreground, background, bold, italics, underscore, reverse, strikethrough
    /// (of a blank cell only the colour that shows).
    var cells: [[Cell]]

    enum Cell: Decodable, Equatable {
        case text(String)
        case flag(Bool)

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let flag = try? container.decode(Bool.self) { self = .flag(flag) } else { self = .text(try container.decode(String.self)) }
        }
    }

    var description: String {
        "cursor \(cursor) hidden \(hidden)\n" + lines.enumerated().map { "\($0.offset): \($0.element)" }.joined(separator: "\n")
    }

    /// The first cells that differ from `other`'s, for a failure message.
    func differences(from other: PyteScreen, limit: Int = 5) -> [String] {
        var found: [String] = []
        for (row, (a, b)) in zip(lines, other.lines).enumerated() where a != b { found.append("row \(row): \(a.debugDescription) vs \(b.debugDescription)") }
        let columns = lines.isEmpty ? 0 : cells.count / lines.count
        for (index, (a, b)) in zip(cells, other.cells).enumerated() where a != b && found.count < limit {
            found.append("cell (\(index / max(columns, 1)),\(index % max(columns, 1))): \(a) vs \(b)")
        }
        if cursor != other.cursor || hidden != other.hidden { found.append("cursor \(cursor) \(hidden) vs \(other.cursor) \(other.hidden)") }
        return Array(found.prefix(limit))
    }

    static let script = #"""
        import json, sys, pyte
        # pyte 0.8 fails on private SGRs (vim's CSI > 4 ; 2 m, modifyOtherKeys); xterm ignores them.
        plain_sgr = pyte.Screen.select_graphic_rendition
        def sgr(self, *attrs, private=False):
            if not private:
                plain_sgr(self, *attrs)
        pyte.Screen.select_graphic_rendition = sgr
        columns, rows, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
        screen = pyte.Screen(columns, rows)
        pyte.ByteStream(screen).feed(open(path, "rb").read())
        lines, cells = [], []
        for y in range(rows):
            line = screen.buffer[y]
            lines.append("".join(line[x].data for x in range(columns)).rstrip())
            for x in range(columns):
                c = line[x]
                if c.data == " ":
                    # An erased cell: pyte gives it every attribute of the pen, libvterm (like
                    # xterm) only the background; what shows is the background.
                    cells.append(["default", c.fg if c.reverse else c.bg, False, False, False, False, False])
                else:
                    cells.append([c.fg, c.bg, c.bold, c.italics, c.underscore, c.reverse, c.strikethrough])
        print(json.dumps({"lines": lines, "cursor": [screen.cursor.y, screen.cursor.x],
                          "hidden": screen.cursor.hidden, "cells": cells}))
        """#

    /// Feeds `bytes` into a fresh pyte screen of `columns` x `rows`. NUL bytes are left out (every
    /// terminal ignores them, and pyte is slow at ignoring megabytes of them).
    static func render(_ bytes: [UInt8], columns: Int, rows: Int) async throws -> PyteScreen {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("pyte-\(UUID().uuidString).bin")
        try Data(bytes.filter { $0 != 0 }).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        // Debian's python3, where python3-pyte (scripts/lib/common.sh) installs the module.
        let result = try await ChildProcess.run(
            "/usr/bin/python3", ["-c", script, String(columns), String(rows), file.path], timeout: .seconds(120))
        guard result.status == 0 else {
            throw ChildProcess.Failure("pyte failed (apt-get install python3-pyte): \(result.output.suffix(1000))")
        }
        return try JSONDecoder().decode(PyteScreen.self, from: Data(result.output.utf8))
    }
}
