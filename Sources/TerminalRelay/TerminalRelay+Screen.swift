import NIOCore
import TerminalScreen

/// A session's screen, captured for `GET /v1/sessions/{id}/screen`.
public struct CapturedScreen: Sendable {
    /// Where it came from.
    public enum Source: String, Sendable {
        /// The live terminal's screen model.
        case terminal
        /// The container's log (no terminal in this daemon's life: nobody attached, or the session
        /// ended), replayed into a model of the standard size.
        case log
    }

    public var snapshot: ScreenSnapshot
    /// The bytes that draw it (see ``ScreenModel/repaint()``).
    public var repaint: [UInt8]
    /// For a live terminal, the offset of the first byte the screen does not show: a viewer that
    /// attaches with `since` set to it continues from this screen.
    public var offset: UInt64?
    public var source: Source
}

extension TerminalRelay {
    /// The screen of `session`: its terminal's when the relay has a live one, else one rebuilt from
    /// `log`, the container's output as the engine logged it (read only in that case). Attaches
    /// nothing: a thumbnail of every session costs no engine attachment.
    public func screen(
        session: String, log: () async throws -> any AsyncSequence<ByteBuffer, any Error>
    ) async throws -> CapturedScreen {
        if let terminal = existingTerminal(session: session), let captured = terminal.captureScreen() {
            return captured
        }
        let model = (configuration.screenModel ?? Configuration.libvtermScreens)(.standard)
        for try await chunk in try await log() {
            chunk.withUnsafeReadableBytes { model.feed($0) }
        }
        return CapturedScreen(snapshot: model.snapshot(), repaint: model.repaint(), offset: nil, source: .log)
    }
}
