import CVTerm

/// A colour as SGR sets it.
enum Colour: Equatable {
    case standard
    case indexed(UInt8)
    case rgb(UInt8, UInt8, UInt8)

    init(_ colour: VTermColor) {
        if colour.type & UInt8(VTERM_COLOR_DEFAULT_MASK.rawValue) != 0 {
            self = .standard
        } else if colour.type & UInt8(VTERM_COLOR_TYPE_MASK.rawValue) == UInt8(VTERM_COLOR_INDEXED.rawValue) {
            self = .indexed(colour.indexed.idx)
        } else {
            self = .rgb(colour.rgb.red, colour.rgb.green, colour.rgb.blue)
        }
    }
}

/// The attributes and colours of a cell, or of the cursor's pen.
struct Pen: Equatable {
    var bold = false
    /// 0 off, 1 single, 2 double, 3 curly.
    var underline: UInt8 = 0
    var italic = false
    var blink = false
    var reverse = false
    var strike = false
    /// 0 primary, 1 to 9 alternative fonts.
    var font: UInt8 = 0
    var foreground = Colour.standard
    var background = Colour.standard

    static let standard = Pen()

    init() {}

    init(_ cell: VTermScreenCell) {
        bold = cell.attrs.bold != 0
        underline = UInt8(truncatingIfNeeded: cell.attrs.underline)
        italic = cell.attrs.italic != 0
        blink = cell.attrs.blink != 0
        reverse = cell.attrs.reverse != 0
        strike = cell.attrs.strike != 0
        font = UInt8(truncatingIfNeeded: cell.attrs.font)
        foreground = Colour(cell.fg)
        background = Colour(cell.bg)
    }
}

/// Accumulates a repaint's bytes, emitting an SGR only where the pen changes. Numbers and
/// characters are written as bytes straight into one growing buffer: a full 200x60 screen of
/// differing cells is 12,000 SGRs, and formatting strings (or checking an array's capacity per
/// byte) would cost several times the 1 ms a repaint may take.
struct RepaintWriter: ~Copyable {
    private var storage: UnsafeMutablePointer<UInt8>
    private var capacity: Int
    private var count = 0
    private var pen = Pen.standard

    init(capacity: Int) {
        self.capacity = max(capacity, 256)
        storage = .allocate(capacity: self.capacity)
    }

    deinit {
        storage.deallocate()
    }

    /// What was written.
    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: storage, count: count)) }

    /// Makes room for `more` bytes.
    private mutating func reserve(_ more: Int) {
        guard count + more > capacity else { return }
        let grown = UnsafeMutablePointer<UInt8>.allocate(capacity: max(capacity * 2, count + more))
        grown.update(from: storage, count: count)
        storage.deallocate()
        storage = grown
        capacity = max(capacity * 2, count + more)
    }

    /// Appends without checking room: callers reserve first.
    @inline(__always) private mutating func put(_ value: UInt8) {
        storage[count] = value
        count += 1
    }

    mutating func byte(_ value: UInt8) {
        reserve(1)
        put(value)
    }

    mutating func append(_ text: some Sequence<UInt8>) {
        for value in text { byte(value) }
    }

    /// ESC followed by `text`.
    mutating func escape(_ text: String) {
        byte(0x1b)
        append(text.utf8)
    }

    /// CSI followed by `text`.
    mutating func csi(_ text: String) {
        reserve(2)
        put(0x1b)
        put(0x5b)
        append(text.utf8)
    }

    /// CSI row ; column H (one-based).
    mutating func moveTo(row: Int, column: Int) {
        reserve(48)
        put(0x1b)
        put(0x5b)
        number(row)
        put(0x3b)
        number(column)
        put(0x48)
    }

    /// `value` (0 to 2^64) in decimal ASCII; the caller reserved 20 bytes.
    @inline(__always) private mutating func number(_ value: Int) {
        if value < 10 {
            put(UInt8(truncatingIfNeeded: 0x30 + value))
        } else if value < 100 {
            put(UInt8(truncatingIfNeeded: 0x30 + value / 10))
            put(UInt8(truncatingIfNeeded: 0x30 + value % 10))
        } else if value < 1000 {
            put(UInt8(truncatingIfNeeded: 0x30 + value / 100))
            put(UInt8(truncatingIfNeeded: 0x30 + value / 10 % 10))
            put(UInt8(truncatingIfNeeded: 0x30 + value % 10))
        } else {
            number(value / 1000)
            put(UInt8(truncatingIfNeeded: 0x30 + value / 100 % 10))
            put(UInt8(truncatingIfNeeded: 0x30 + value / 10 % 10))
            put(UInt8(truncatingIfNeeded: 0x30 + value % 10))
        }
    }

    @inline(__always) private mutating func parameter(_ value: Int) {
        put(0x3b)
        number(value)
    }

    /// One Unicode scalar as UTF-8.
    mutating func scalar(_ value: UInt32) {
        reserve(4)
        switch value {
        case 0..<0x80:
            put(UInt8(value))
        case 0x80..<0x800:
            put(UInt8(0xc0 | (value >> 6)))
            put(UInt8(0x80 | (value & 0x3f)))
        case 0x800..<0x10000:
            put(UInt8(0xe0 | (value >> 12)))
            put(UInt8(0x80 | ((value >> 6) & 0x3f)))
            put(UInt8(0x80 | (value & 0x3f)))
        default:
            put(UInt8(0xf0 | ((value >> 18) & 0x07)))
            put(UInt8(0x80 | ((value >> 12) & 0x3f)))
            put(UInt8(0x80 | ((value >> 6) & 0x3f)))
            put(UInt8(0x80 | (value & 0x3f)))
        }
    }

    /// The characters of a cell (none for an erased cell or the right half of a wide one).
    mutating func characters(of cell: VTermScreenCell) {
        withUnsafeBytes(of: cell.chars) { raw in
            for code in raw.bindMemory(to: UInt32.self) {
                // 0 ends the list; libvterm marks the right half of a wide character with -1.
                guard code != 0, code != UInt32.max else { break }
                scalar(code)
            }
        }
    }

    mutating func clear() {
        count = 0
        pen = .standard
    }

    mutating func scalars(_ scalars: some Sequence<Unicode.Scalar>) {
        for scalar in scalars { self.scalar(scalar.value) }
    }

    /// Switches to `pen` unless it is the current one: an SGR that resets, then sets what differs
    /// from the default.
    mutating func pen(_ next: Pen) {
        guard next != pen else { return }
        pen = next
        // ESC [ 0, at most 9 attributes and 2 colours of 5 numbers each, m: well under 96.
        reserve(96)
        put(0x1b)
        put(0x5b)
        put(0x30)  // 0: reset
        if next.bold { parameter(1) }
        if next.italic { parameter(3) }
        switch next.underline {
        case 0: break
        case 2: parameter(21)
        case 3:
            parameter(4)
            put(0x3a)  // 4:3, curly
            put(0x33)
        default: parameter(4)
        }
        if next.blink { parameter(5) }
        if next.reverse { parameter(7) }
        if next.strike { parameter(9) }
        if next.font != 0 { parameter(10 + Int(next.font)) }
        colour(next.foreground, base: 30)
        colour(next.background, base: 40)
        put(0x6d)  // m
    }

    /// The SGR parameters selecting `colour`; `base` is 30 (foreground) or 40 (background).
    @inline(__always) private mutating func colour(_ colour: Colour, base: Int) {
        switch colour {
        case .standard: break
        case .indexed(let index) where index < 8: parameter(base + Int(index))
        case .indexed(let index) where index < 16: parameter(base + 60 + Int(index) - 8)
        case .indexed(let index):
            parameter(base + 8)
            parameter(5)
            parameter(Int(index))
        case .rgb(let red, let green, let blue):
            parameter(base + 8)
            parameter(2)
            parameter(Int(red))
            parameter(Int(green))
            parameter(Int(blue))
        }
    }
}
