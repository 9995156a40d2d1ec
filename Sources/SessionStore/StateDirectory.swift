import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Creates the state directory and the database file with private permissions before SQLite
/// opens anything.
///
/// SQLite creates `-wal` and `-shm` with the permissions of the main file, so creating the main
/// file 0600 first keeps all three private whatever the process umask is.
enum StateDirectory {
    /// Makes sure `directory` exists (created 0700 when missing, parents included) and that
    /// `directory/fileName` exists with mode 0600; returns the file's path.
    static func prepare(directory: String, fileName: String, logger: Logger) throws -> String {
        guard !fileName.isEmpty, !fileName.contains("/") else {
            throw SessionStoreError.invalidInput("the database file name '\(fileName)' must be a plain name")
        }
        var info = stat()
        if stat(directory, &info) != 0 {
            guard errno == ENOENT else { throw systemError("inspect the state directory", path: directory) }
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw SessionStoreError(
                    code: .io,
                    message: "cannot create the state directory \(directory): \(error). Create it (mode 0700) "
                        + "or point the daemon at a writable directory.",
                    underlying: error)
            }
            // The umask may have narrowed the mode further; set it exactly.
            guard chmod(directory, 0o700) == 0, stat(directory, &info) == 0 else {
                throw systemError("set mode 0700 on", path: directory)
            }
            logger.info("created state directory", metadata: ["store.directory": "\(directory)"])
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw SessionStoreError(
                code: .io, message: "the state directory \(directory) exists but is not a directory. Move it away.")
        }
        if info.st_mode & 0o022 != 0 {
            logger.info(
                "state directory is writable by group or others; 0700 is recommended",
                metadata: ["store.directory": "\(directory)", "store.mode": "\(String(info.st_mode & 0o7777, radix: 8))"])
        }

        let path = directory.hasSuffix("/") ? directory + fileName : directory + "/" + fileName
        // O_NOFOLLOW: the daemon runs as root; a symlink planted in the state directory must not
        // redirect the database (or the chmod) elsewhere. It fails with ELOOP instead.
        try makePrivate(path, flags: O_CREAT)
        for suffix in ["-wal", "-shm"] {
            try makePrivate(path + suffix)
        }
        return path
    }

    /// Sets mode 0600 on `path` without following a symlink. `flags` may add `O_CREAT` (and
    /// `O_EXCL`); without `O_CREAT` a missing file is left missing.
    static func makePrivate(_ path: String, flags: Int32 = 0) throws {
        let fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | flags, 0o600)
        if fd < 0, flags & O_CREAT == 0, errno == ENOENT { return }
        guard fd >= 0 else { throw systemError("create or open", path: path) }
        defer { close(fd) }
        guard fchmod(fd, 0o600) == 0 else { throw systemError("set mode 0600 on", path: path) }
    }

    /// Flushes a directory's entries (after a rename into it) to disk.
    static func syncDirectory(containing path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("open", path: directory) }
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw systemError("fsync", path: directory) }
    }

    static func systemError(_ action: String, path: String, errorNumber: Int32 = errno) -> SessionStoreError {
        let reason = String(cString: strerror(errorNumber))
        let code: SessionStoreError.Code =
            switch errorNumber {
            case ENOSPC, EDQUOT: .storageFull
            case EROFS: .readOnly
            default: .io
            }
        return SessionStoreError(
            code: code,
            message: "cannot \(action) \(path): \(reason). Check that the state directory is on a writable, "
                + "non-full filesystem and owned by the daemon's user.",
            underlying: POSIXError(POSIXErrorCode(rawValue: errorNumber) ?? .EIO))
    }
}
