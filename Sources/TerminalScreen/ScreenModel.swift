/// A terminal's screen, fed the bytes a program wrote to its TTY.
///
/// The seam the relay keeps its per-session screen behind: ``VTermScreenModel`` is the real one.
/// Not `Sendable`: one owner feeds and reads it (the relay keeps it inside the terminal's lock).
public protocol ScreenModel: AnyObject {
    /// The screen's size now.
    var size: ScreenSize { get }
    /// Interprets `bytes` as terminal output (UTF-8 text and escape sequences). A sequence split
    /// across two calls is joined.
    func feed(_ bytes: UnsafeRawBufferPointer)
    /// Changes the size, as a terminal window resized by its user.
    func resize(_ size: ScreenSize)
    /// The screen as text, with the cursor, title and modes.
    func snapshot() -> ScreenSnapshot
    /// Escape sequences that draw this screen on any xterm-compatible terminal, whatever it showed
    /// before: a full reset (RIS) first, then the screen buffer, every cell with its attributes and
    /// colours, the scroll region, the modes, the title, the cursor and the current pen.
    func repaint() -> [UInt8]
}

/// Columns and rows of a screen.
public struct ScreenSize: Sendable, Equatable, Hashable, Codable, CustomStringConvertible {
    public var columns: Int
    public var rows: Int

    /// The size a TTY has until someone sets one.
    public static let standard = ScreenSize(columns: 80, rows: 24)

    public init(columns: Int, rows: Int) {
        self.columns = max(1, columns)
        self.rows = max(1, rows)
    }

    public var description: String { "\(columns)x\(rows)" }
}

/// A screen as text.
public struct ScreenSnapshot: Sendable, Equatable, Codable {
    public struct Cursor: Sendable, Equatable, Codable {
        /// Zero-based, from the top.
        public var row: Int
        /// Zero-based, from the left.
        public var column: Int
        public var visible: Bool

        public init(row: Int, column: Int, visible: Bool) {
            self.row = row
            self.column = column
            self.visible = visible
        }
    }

    public var size: ScreenSize
    /// One string per row, trailing blanks removed; a wide character is one character.
    public var rows: [String]
    public var cursor: Cursor
    /// The window title the program set (OSC 0 or 2); empty if none.
    public var title: String
    /// Whether the program switched to the alternate screen (full-screen programs: vi, top, less).
    public var alternateScreen: Bool
    public var modes: ScreenModes

    public init(
        size: ScreenSize, rows: [String], cursor: Cursor, title: String, alternateScreen: Bool, modes: ScreenModes
    ) {
        self.size = size
        self.rows = rows
        self.cursor = cursor
        self.title = title
        self.alternateScreen = alternateScreen
        self.modes = modes
    }

    /// The rows joined by newlines, trailing empty rows dropped (what `tmux capture-pane` prints).
    public var text: String {
        var lines = rows[...]
        while lines.last?.isEmpty == true { lines.removeLast() }
        return lines.joined(separator: "\n")
    }
}

/// The terminal modes a program set that change what the terminal sends or how it draws.
public struct ScreenModes: Sendable, Equatable, Codable {
    /// Which mouse events the program asked to be reported.
    public enum MouseTracking: String, Sendable, Equatable, Codable {
        case none, click, drag, move
    }

    /// How mouse reports are encoded.
    public enum MouseEncoding: String, Sendable, Equatable, Codable {
        case standard = "x10", utf8, sgr, urxvt
    }

    /// DECCKM (`CSI ? 1 h`): arrow keys send `ESC O A` instead of `ESC [ A`.
    public var applicationCursorKeys = false
    /// `CSI ? 2004 h`: pasted text arrives between `ESC [ 200 ~` and `ESC [ 201 ~`.
    public var bracketedPaste = false
    public var mouseTracking = MouseTracking.none
    public var mouseEncoding = MouseEncoding.standard
    /// `CSI ? 1004 h`: the terminal reports focus in and out.
    public var focusReporting = false
    /// DECAWM (`CSI ? 7 h`, on by default).
    public var autowrap = true
    /// DECOM (`CSI ? 6 h`): cursor addressing relative to the scroll region.
    public var originMode = false
    /// DECSCNM (`CSI ? 5 h`): the whole screen in reverse video.
    public var reverseVideo = false
    /// `CSI ? 12 h`.
    public var cursorBlink = true
    /// DECSCUSR: `block`, `underline` or `bar`.
    public var cursorShape = "block"
    /// DECSTBM: the scroll region's first and last rows, zero-based; nil for the whole screen.
    public var scrollRegion: ClosedRange<Int>?

    public init() {}
}
