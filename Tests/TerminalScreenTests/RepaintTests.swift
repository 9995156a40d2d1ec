import Testing

@testable import TerminalScreen

/// A repaint fed into a fresh model rebuilds the screen the original model holds, cell by cell.
@Suite struct RepaintTests {
    /// Feeds `text` into a model of `size`, repaints it into a second model that first saw
    /// `noise`, and returns both.
    static func roundTrip(
        _ text: String, size: ScreenSize = .standard, noise: String = "garbage \u{1b}[?1h\u{1b}[31mred"
    ) -> (original: VTermScreenModel, rebuilt: VTermScreenModel, repaint: [UInt8]) {
        let original = VTermScreenModel(size: size)
        feed(original, text)
        let repaint = original.repaint()
        let rebuilt = VTermScreenModel(size: size)
        feed(rebuilt, noise)
        repaint.withUnsafeBytes { rebuilt.feed($0) }
        return (original, rebuilt, repaint)
    }

    static func feed(_ model: VTermScreenModel, _ text: String) {
        Array(text.utf8).withUnsafeBytes { model.feed($0) }
    }

    /// Every cell (characters, width, attributes, colours), the cursor, the title and the modes.
    static func expectSameScreen(_ a: VTermScreenModel, _ b: VTermScreenModel, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.size == b.size, sourceLocation: sourceLocation)
        var differing: [String] = []
        for row in 0..<a.size.rows {
            for column in 0..<a.size.columns {
                let x = a.cell(row: row, column: column)
                let y = b.cell(row: row, column: column)
                if x.text != y.text || x.width != y.width || x.pen != y.pen {
                    differing.append("(\(row),\(column)): \(x) vs \(y)")
                }
            }
        }
        #expect(differing.isEmpty, "cells differ: \(differing.prefix(5))", sourceLocation: sourceLocation)
        #expect(a.snapshot() == b.snapshot(), sourceLocation: sourceLocation)
    }

    @Test func plainShellOutput() {
        let (original, rebuilt, _) = Self.roundTrip("$ ls\r\nfile1  file2\r\n$ ")
        Self.expectSameScreen(original, rebuilt)
        #expect(rebuilt.snapshot().rows[1] == "file1  file2")
        #expect(rebuilt.snapshot().cursor == .init(row: 2, column: 2, visible: true))
    }

    @Test func attributesAndColours() {
        let text = "\u{1b}[1;3;4mbold-italic-under\u{1b}[0m \u{1b}[7mrev\u{1b}[27m \u{1b}[9mstrike\u{1b}[0m\r\n"
            + "\u{1b}[31mred\u{1b}[42mongreen\u{1b}[0m \u{1b}[91mbright\u{1b}[0m \u{1b}[38;5;200mx256\u{1b}[48;5;17my\u{1b}[0m\r\n"
            + "\u{1b}[38;2;10;20;30mrgb\u{1b}[48;2;200;100;50mbg\u{1b}[0m \u{1b}[21mdouble\u{1b}[0m \u{1b}[5mblink\u{1b}[0m\r\n"
            + "\u{1b}[44m\u{1b}[K\u{1b}[0m"  // a row erased with a background colour
            + "\r\n\u{1b}[33mpen stays yellow"
        let (original, rebuilt, _) = Self.roundTrip(text)
        Self.expectSameScreen(original, rebuilt)
        // The program's pen survives the repaint: what it prints next is still yellow.
        Self.feed(original, "!")
        Self.feed(rebuilt, "!")
        Self.expectSameScreen(original, rebuilt)
    }

    @Test func wideAndCombiningCharacters() {
        let (original, rebuilt, _) = Self.roundTrip("日本語 e\u{301}te\u{301} 🙂 end")
        Self.expectSameScreen(original, rebuilt)
        #expect(rebuilt.snapshot().rows[0] == "日本語 e\u{301}te\u{301} 🙂 end")
    }

    @Test func alternateScreenWithCursorModesAndTitle() {
        let text = "shell line\r\n\u{1b}]2;vi notes.txt\u{7}\u{1b}[?1049h\u{1b}[?1h\u{1b}=\u{1b}[?2004h\u{1b}[?1002h\u{1b}[?1006h"
            + "\u{1b}[H\u{1b}[2J~\r\n~\r\n\u{1b}[24;1H\"notes.txt\" 3L\u{1b}[5;10H\u{1b}[?25l"
        let (original, rebuilt, _) = Self.roundTrip(text)
        Self.expectSameScreen(original, rebuilt)
        let snapshot = rebuilt.snapshot()
        #expect(snapshot.alternateScreen)
        #expect(snapshot.title == "vi notes.txt")
        #expect(snapshot.cursor == .init(row: 4, column: 9, visible: false))
        #expect(snapshot.modes.applicationCursorKeys)
        #expect(snapshot.modes.bracketedPaste)
        #expect(snapshot.modes.mouseTracking == .drag)
        #expect(snapshot.modes.mouseEncoding == .sgr)
    }

    @Test func scrollRegionOriginModeAndCursorShape() {
        let text = "\u{1b}[3;20r\u{1b}[?6h\u{1b}[5;7Hinside\u{1b}[4 q\u{1b}[?7l"
        let (original, rebuilt, _) = Self.roundTrip(text)
        Self.expectSameScreen(original, rebuilt)
        let modes = rebuilt.snapshot().modes
        #expect(modes.scrollRegion == 2...19)
        #expect(modes.originMode)
        #expect(!modes.autowrap)
        #expect(modes.cursorShape == "underline")
        // Scrolling inside the region behaves the same afterwards.
        Self.feed(original, "\u{1b}[18;1H\n\n\n\nscrolled")
        Self.feed(rebuilt, "\u{1b}[18;1H\n\n\n\nscrolled")
        Self.expectSameScreen(original, rebuilt)
    }

    @Test func fullScreenOfColouredText() {
        let size = ScreenSize(columns: 200, rows: 60)
        var text = ""
        for row in 0..<60 {
            text += "\u{1b}[\(row + 1);1H"
            for column in 0..<200 {
                text += "\u{1b}[38;5;\((row + column) % 256)m" + String(UnicodeScalar(UInt8(33 + (row * 7 + column) % 90)))
            }
        }
        let (original, rebuilt, repaint) = Self.roundTrip(text, size: size)
        Self.expectSameScreen(original, rebuilt)
        // It starts from a full reset, whatever the client showed (the noise in `roundTrip`).
        #expect(repaint.starts(with: [0x1b, 0x63]))
    }

    @Test func resizeKeepsTheModelConsistent() {
        let model = VTermScreenModel()
        Self.feed(model, "hello\r\nworld")
        model.resize(ScreenSize(columns: 120, rows: 40))
        #expect(model.size == ScreenSize(columns: 120, rows: 40))
        let rebuilt = VTermScreenModel(size: model.size)
        model.repaint().withUnsafeBytes { rebuilt.feed($0) }
        Self.expectSameScreen(model, rebuilt)
        #expect(rebuilt.snapshot().text == "hello\nworld")
    }

    @Test func aSequenceSplitAcrossFeedsIsJoined() {
        let model = VTermScreenModel()
        Self.feed(model, "a\u{1b}[3")
        Self.feed(model, "1mred")
        #expect(model.cell(row: 0, column: 1).pen.foreground == .indexed(1))
        #expect(model.snapshot().rows[0] == "ared")
    }
}
