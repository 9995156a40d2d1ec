import Foundation
import Testing

/// A directory under /tmp, removed with everything in it when the value goes away.
public final class TemporaryDirectory {
    public let path: String

    public init() throws {
        var template = Array("/tmp/sandcastle-policy-test-XXXXXX".utf8CString)
        let made = mkdtemp(&template).map { String(cString: $0) }
        path = try #require(made)
    }

    deinit {
        // removeItem unlinks symlinks; it does not follow them.
        try? FileManager.default.removeItem(atPath: path)
    }

    public func makeDirectory(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path + "/" + relative, withIntermediateDirectories: true)
    }

    public func write(_ relative: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path + "/" + relative))
    }

    public func symlink(_ relative: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: path + "/" + relative, withDestinationPath: target)
    }

    public func exists(_ relative: String) -> Bool {
        var info = stat()
        return lstat(path + "/" + relative, &info) == 0
    }
}

/// Runs `body`, which must throw an `E`, and returns the error.
public func expectError<E: Error>(_ type: E.Type, _ body: () throws -> Void, sourceLocation: SourceLocation) -> E? {
    do {
        try body()
        Issue.record("expected \(E.self)", sourceLocation: sourceLocation)
    } catch let error as E {
        return error
    } catch {
        Issue.record("expected \(E.self), got \(error)", sourceLocation: sourceLocation)
    }
    return nil
}
