import CVTerm

/// A ``ScreenModel`` kept by libvterm: its parser, its state (cursor, pen, modes, alternate screen)
/// and its screen buffer.
///
/// What libvterm does not report through its callbacks (application cursor keys, bracketed paste,
/// the mouse encoding, focus reporting, origin mode, the scroll region) is asked of it the way a
/// program would: DECRQM and DECRQSS queries fed in, its answers read from its output. A query
/// lands between two fed chunks: should a chunk end inside an escape sequence, that one sequence
/// is cut short in the model (never in what the viewers receive).
///
/// Memory: libvterm allocates both screen buffers (about 2 x 36 bytes per cell, so about 140 KB
/// at 80x24) when the model is made; make one only for a screen someone will look at.
public final class VTermScreenModel: ScreenModel {
    private let terminal: OpaquePointer
    private let screen: OpaquePointer
    private let state: OpaquePointer
    /// libvterm keeps the pointer to the callbacks, not a copy.
    private let callbacks: UnsafeMutablePointer<VTermScreenCallbacks>
    fileprivate var properties = Properties()
    /// Collects libvterm's answers while a query runs; nil otherwise (its answers to the program's
    /// own queries are dropped: the viewers' terminals answer those).
    fileprivate var answers: [UInt8]?

    /// What libvterm reports through `settermprop`.
    fileprivate struct Properties {
        var title = ""
        var alternateScreen = false
        var cursorVisible = true
        var cursorBlink = true
        var cursorShape = Int32(VTERM_PROP_CURSORSHAPE_BLOCK)
        var reverse = false
        var mouse = Int32(VTERM_PROP_MOUSE_NONE)
    }

    public init(size: ScreenSize = .standard) {
        terminal = vterm_new(Int32(size.rows), Int32(size.columns))
        vterm_set_utf8(terminal, 1)
        screen = vterm_obtain_screen(terminal)
        state = vterm_obtain_state(terminal)
        callbacks = .allocate(capacity: 1)
        callbacks.initialize(to: VTermScreenCallbacks())
        callbacks.pointee.settermprop = { property, value, user in
            guard let user, let value else { return 0 }
            let model = Unmanaged<VTermScreenModel>.fromOpaque(user).takeUnretainedValue()
            model.properties.apply(property, value.pointee)
            return 1
        }
        let user = Unmanaged.passUnretained(self).toOpaque()
        vterm_screen_set_callbacks(screen, callbacks, user)
        vterm_output_set_callback(
            terminal,
            { bytes, length, user in
                guard let user, let bytes else { return }
                let model = Unmanaged<VTermScreenModel>.fromOpaque(user).takeUnretainedValue()
                guard model.answers != nil else { return }
                model.answers!.append(contentsOf: UnsafeRawBufferPointer(start: UnsafeRawPointer(bytes), count: length))
            }, user)
        vterm_screen_enable_altscreen(screen, 1)
        vterm_screen_reset(screen, 1)
    }

    deinit {
        vterm_free(terminal)
        callbacks.deallocate()
    }

    public var size: ScreenSize {
        var rows: Int32 = 0
        var columns: Int32 = 0
        vterm_get_size(terminal, &rows, &columns)
        return ScreenSize(columns: Int(columns), rows: Int(rows))
    }

    public func feed(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        _ = vterm_input_write(terminal, base.assumingMemoryBound(to: CChar.self), bytes.count)
    }

    public func resize(_ size: ScreenSize) {
        guard size != self.size else { return }
        vterm_set_size(terminal, Int32(size.rows), Int32(size.columns))
    }

    // MARK: - Reading

    public func snapshot() -> ScreenSnapshot {
        let size = self.size
        var rows: [String] = []
        rows.reserveCapacity(size.rows)
        var cell = VTermScreenCell()
        var line = RepaintWriter(capacity: size.columns * 2)
        for row in 0..<size.rows {
            line.clear()
            var column = 0
            while column < size.columns {
                vterm_screen_get_cell(screen, VTermPos(row: Int32(row), col: Int32(column)), &cell)
                if cell.chars.0 == 0 { line.byte(0x20) } else { line.characters(of: cell) }
                column += max(1, Int(cell.width))
            }
            rows.append(String(decoding: line.bytes.reversed().drop { $0 == 0x20 }.reversed(), as: UTF8.self))
        }
        let cursor = cursorPosition
        return ScreenSnapshot(
            size: size, rows: rows,
            cursor: .init(row: Int(cursor.row), column: Int(cursor.col), visible: properties.cursorVisible),
            title: properties.title, alternateScreen: properties.alternateScreen, modes: modes())
    }

    public func repaint() -> [UInt8] {
        let size = self.size
        let modes = self.modes()
        var out = RepaintWriter(capacity: size.rows * size.columns * 4 + 256)
        out.escape("c")  // RIS: whatever the client showed before is gone
        if properties.alternateScreen { out.csi("?1049h") }
        var cell = VTermScreenCell()
        for row in 0..<size.rows {
            var moved = false
            var column = 0
            // Blank cells with the default look are what RIS left: skip them, move past them.
            while column < size.columns {
                vterm_screen_get_cell(screen, VTermPos(row: Int32(row), col: Int32(column)), &cell)
                let width = max(1, Int(cell.width))
                let blank = cell.chars.0 == 0
                let pen = Pen(cell)
                if blank, pen == Pen.standard {
                    column += width
                    moved = false
                    continue
                }
                if !moved {
                    out.moveTo(row: row + 1, column: column + 1)
                    moved = true
                }
                out.pen(pen)
                if blank {
                    // Erased with a colour (a program's erase to end of line on a coloured
                    // background): erased the same way (ECH takes the pen), not written as spaces.
                    var run = 1
                    while column + run < size.columns {
                        vterm_screen_get_cell(screen, VTermPos(row: Int32(row), col: Int32(column + run)), &cell)
                        guard cell.chars.0 == 0, Pen(cell) == pen else { break }
                        run += 1
                    }
                    out.csi("\(run)X")
                    column += run
                    moved = false
                    continue
                }
                out.characters(of: cell)
                column += width
            }
        }
        out.pen(.standard)
        if let region = modes.scrollRegion { out.csi("\(region.lowerBound + 1);\(region.upperBound + 1)r") }
        var set: [String] = []
        var reset: [String] = []
        if modes.applicationCursorKeys { set.append("1") }
        if modes.reverseVideo { set.append("5") }
        if modes.originMode { set.append("6") }
        if !modes.autowrap { reset.append("7") }
        if !modes.cursorBlink { reset.append("12") }
        switch modes.mouseTracking {
        case .none: break
        case .click: set.append("1000")
        case .drag: set.append("1002")
        case .move: set.append("1003")
        }
        if modes.focusReporting { set.append("1004") }
        switch modes.mouseEncoding {
        case .standard: break
        case .utf8: set.append("1005")
        case .sgr: set.append("1006")
        case .urxvt: set.append("1015")
        }
        if modes.bracketedPaste { set.append("2004") }
        // One mode per sequence: libvterm, for one, applies only the first of several.
        for mode in set { out.csi("?\(mode)h") }
        for mode in reset { out.csi("?\(mode)l") }
        switch modes.cursorShape {
        case "underline": out.csi(modes.cursorBlink ? "3 q" : "4 q")
        case "bar": out.csi(modes.cursorBlink ? "5 q" : "6 q")
        default: if !modes.cursorBlink { out.csi("2 q") }
        }
        if !properties.title.isEmpty {
            out.escape("]2;")
            // Control characters would end the OSC early (or start another sequence).
            out.scalars(properties.title.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7f && !(0x80..<0xa0).contains($0.value) })
            out.escape("\\")
        }
        let cursor = cursorPosition
        var cursorRow = Int(cursor.row)
        if modes.originMode, let region = modes.scrollRegion { cursorRow -= region.lowerBound }
        out.csi("\(cursorRow + 1);\(Int(cursor.col) + 1)H")
        if !properties.cursorVisible { out.csi("?25l") }
        out.pen(currentPen)
        return out.bytes
    }

    /// One cell: its characters, its width and its pen (for the tests that compare screens).
    func cell(row: Int, column: Int) -> (text: [Unicode.Scalar], width: Int, pen: Pen) {
        var cell = VTermScreenCell()
        vterm_screen_get_cell(screen, VTermPos(row: Int32(row), col: Int32(column)), &cell)
        var text = RepaintWriter(capacity: 8)
        text.characters(of: cell)
        return (Array(String(decoding: text.bytes, as: UTF8.self).unicodeScalars), Int(cell.width), Pen(cell))
    }

    private var cursorPosition: VTermPos {
        var position = VTermPos()
        vterm_state_get_cursorpos(state, &position)
        return position
    }

    /// The pen the program draws with next.
    private var currentPen: Pen {
        var pen = Pen.standard
        var value = VTermValue()
        func get(_ attribute: VTermAttr) -> VTermValue {
            vterm_state_get_penattr(state, attribute, &value)
            return value
        }
        pen.bold = get(VTERM_ATTR_BOLD).boolean != 0
        pen.underline = UInt8(truncatingIfNeeded: get(VTERM_ATTR_UNDERLINE).number)
        pen.italic = get(VTERM_ATTR_ITALIC).boolean != 0
        pen.blink = get(VTERM_ATTR_BLINK).boolean != 0
        pen.reverse = get(VTERM_ATTR_REVERSE).boolean != 0
        pen.strike = get(VTERM_ATTR_STRIKE).boolean != 0
        pen.font = UInt8(truncatingIfNeeded: get(VTERM_ATTR_FONT).number)
        pen.foreground = Colour(get(VTERM_ATTR_FOREGROUND).color)
        pen.background = Colour(get(VTERM_ATTR_BACKGROUND).color)
        return pen
    }

    // MARK: - Modes

    /// The modes, asked of libvterm (see the type's documentation).
    private func modes() -> ScreenModes {
        let decModes = [1, 6, 7, 1004, 1005, 1006, 1015, 2004]
        var query = decModes.map { "\u{1b}[?\($0)$p" }.joined()
        query += "\u{1b}P$qr\u{1b}\\"
        answers = []
        Array(query.utf8).withUnsafeBytes { feed($0) }
        let reply = String(decoding: answers ?? [], as: UTF8.self)
        answers = nil

        var set = Set<Int>()
        // DECRPM: CSI ? mode ; value $ y (value 1: set, 2: reset).
        for part in reply.split(separator: "\u{1b}[?") {
            let fields = part.prefix { $0 != "$" }.split(separator: ";")
            if fields.count == 2, let mode = Int(fields[0]), fields[1] == "1" { set.insert(mode) }
        }
        var modes = ScreenModes()
        modes.applicationCursorKeys = set.contains(1)
        modes.originMode = set.contains(6)
        modes.autowrap = set.contains(7)
        modes.focusReporting = set.contains(1004)
        modes.bracketedPaste = set.contains(2004)
        modes.mouseEncoding = set.contains(1006) ? .sgr : set.contains(1005) ? .utf8 : set.contains(1015) ? .urxvt : .standard
        switch properties.mouse {
        case Int32(VTERM_PROP_MOUSE_CLICK): modes.mouseTracking = .click
        case Int32(VTERM_PROP_MOUSE_DRAG): modes.mouseTracking = .drag
        case Int32(VTERM_PROP_MOUSE_MOVE): modes.mouseTracking = .move
        default: modes.mouseTracking = .none
        }
        modes.reverseVideo = properties.reverse
        modes.cursorBlink = properties.cursorBlink
        switch properties.cursorShape {
        case Int32(VTERM_PROP_CURSORSHAPE_UNDERLINE): modes.cursorShape = "underline"
        case Int32(VTERM_PROP_CURSORSHAPE_BAR_LEFT): modes.cursorShape = "bar"
        default: modes.cursorShape = "block"
        }
        // DECRPSS: DCS 1 $ r top ; bottom r ST.
        if let range = reply.firstRange(of: "\u{1b}P1$r") {
            let fields = reply[range.upperBound...].prefix { $0 != "r" }.split(separator: ";").compactMap { Int($0) }
            if fields.count == 2, fields[0] > 1 || fields[1] < size.rows, fields[0] <= fields[1] {
                modes.scrollRegion = (fields[0] - 1)...(fields[1] - 1)
            }
        }
        return modes
    }
}

extension VTermScreenModel.Properties {
    fileprivate mutating func apply(_ property: VTermProp, _ value: VTermValue) {
        switch property {
        case VTERM_PROP_TITLE: title = value.string.map { String(cString: $0) } ?? ""
        case VTERM_PROP_ALTSCREEN: alternateScreen = value.boolean != 0
        case VTERM_PROP_CURSORVISIBLE: cursorVisible = value.boolean != 0
        case VTERM_PROP_CURSORBLINK: cursorBlink = value.boolean != 0
        case VTERM_PROP_CURSORSHAPE: cursorShape = value.number
        case VTERM_PROP_REVERSE: reverse = value.boolean != 0
        case VTERM_PROP_MOUSE: mouse = value.number
        default: break
        }
    }
}
