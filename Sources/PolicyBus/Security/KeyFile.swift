#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import PolicyStore
import ZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading and writing CURVE key files: one Z85 key (40 characters) per file,
/// optionally followed by a newline.
///
/// A secret key file must be readable by its owner only (like ssh, a key that
/// others can read is refused). Writing creates each file with its final mode
/// and moves it into place with `link`/`rename`, so that a secret key is never
/// visible with a wider mode, and a crash never leaves half a key.
///
/// A key is checked by ``CurveKeyPair/isValidKey(_:)``, libzmq's own Z85
/// decoder: the one check every path uses.
public enum KeyFile {
    /// The mode of a secret key file: owner read and write.
    public static let secretMode: mode_t = 0o600
    /// The mode of a public key file: readable by everyone.
    public static let publicMode: mode_t = 0o644

    /// Writes `PREFIX.key` (the secret key, mode 0600) and `PREFIX.pub`.
    /// - Parameters:
    ///   - publicKey: the Z85 public key.
    ///   - secretKey: the Z85 secret key.
    ///   - prefix: the path of both files without their extensions.
    ///   - overwrite: replace existing files instead of refusing.
    /// - Returns: the paths written: secret, then public.
    /// - Throws: ``BusError`` `key-exists` if either file exists and
    ///   `overwrite` is false (then nothing is written), `bad-key`, or `io`.
    @discardableResult
    public static func writeKeyPair(publicKey: String, secretKey: String, prefix: String, overwrite: Bool)
        throws(BusError) -> (secretPath: String, publicPath: String)
    {
        for key in [publicKey, secretKey] where !CurveKeyPair.isValidKey(key) {
            throw BusError(.badKey, "not a 40-character Z85 key")
        }
        let secretPath = prefix + ".key"
        let publicPath = prefix + ".pub"
        if !overwrite {
            for path in [secretPath, publicPath] where access(path, F_OK) == 0 {
                throw BusError(.keyExists, "\(path) exists; pass --force to replace it")
            }
        }
        try fileSystem {
            try write(secretKey + "\n", to: secretPath, mode: secretMode, overwrite: overwrite)
            try write(publicKey + "\n", to: publicPath, mode: publicMode, overwrite: overwrite)
        }
        return (secretPath, publicPath)
    }

    /// Reads a public key file.
    /// - Returns: the Z85 key, without surrounding whitespace.
    /// - Throws: ``BusError`` `bad-key` when the file is not one Z85 key, or `io`.
    public static func readPublicKey(_ path: String) throws(BusError) -> String {
        try fileSystem { try readKey(path) }
    }

    /// Reads a secret key file, refusing one that group or others can access.
    /// - Returns: the Z85 key, without surrounding whitespace.
    /// - Throws: ``BusError`` `key-too-open`, `bad-key`, or `io`.
    public static func readSecretKey(_ path: String) throws(BusError) -> String {
        try fileSystem {
            var info = stat()
            guard stat(path, &info) == 0 else { throw Posix.fail("stat", path) }
            guard info.st_mode & 0o077 == 0 else {
                let mode = String(info.st_mode & 0o777, radix: 8)
                throw BusError(.keyTooOpen, "\(path) has mode \(mode); a secret key must be private: chmod 600 \(path)")
            }
            return try readKey(path)
        }
    }

    /// Reads every public key in an allow-list directory: one key per regular
    /// file; names starting with `.` are skipped.
    ///
    /// A file that is not a key is an error, not skipped: an allow-list that is
    /// silently shorter than the operator thinks is worse than a server that
    /// does not start.
    /// - Returns: each key and the file it came from.
    /// - Throws: ``BusError`` `bad-key` naming the file, or `io`.
    public static func readAuthorizedKeys(directory: String) throws(BusError) -> [(key: String, file: String)] {
        try fileSystem { try authorizedKeys(directory: directory) }
    }

    private static func authorizedKeys(directory: String) throws -> [(key: String, file: String)] {
        guard let dir = opendir(directory) else { throw Posix.fail("opendir", directory) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        var keys: [(key: String, file: String)] = []
        for name in names.sorted() {
            let path = directory + "/" + name
            var info = stat()
            guard stat(path, &info) == 0 else { throw Posix.fail("stat", path) }
            guard info.st_mode & S_IFMT == S_IFREG else { continue }
            keys.append((try readKey(path), path))
        }
        return keys
    }

    // MARK: - Helpers

    /// Runs file system work, reporting its failures as `io`.
    private static func fileSystem<T>(_ body: () throws -> T) throws(BusError) -> T {
        do {
            return try body()
        } catch let error as BusError {
            throw error
        } catch let error as StoreError {
            throw BusError(.io, error.message)
        } catch {
            throw BusError(.io, "\(error)")
        }
    }

    private static func readKey(_ path: String) throws -> String {
        let fd = try Posix.openFile(path, O_RDONLY)
        defer { Posix.closeFile(fd) }
        let bytes = try Posix.readAll(fd, path: path)
        guard bytes.count <= 1024, let text = String(validating: bytes, as: UTF8.self) else {
            throw BusError(.badKey, "\(path) does not hold a Z85 key")
        }
        let key = String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        guard CurveKeyPair.isValidKey(key) else {
            throw BusError(.badKey, "\(path) does not hold a 40-character Z85 key")
        }
        return key
    }

    /// Creates a temporary file with its final mode, then links it into place
    /// (refusing to replace) or renames it (replacing).
    private static func write(_ text: String, to path: String, mode: mode_t, overwrite: Bool) throws {
        let temporary = path + ".tmp-\(getpid())"
        let fd: Int32
        do {
            fd = try Posix.openFile(temporary, O_WRONLY | O_CREAT | O_EXCL, mode: mode)
        } catch var error as StoreError {
            error.message = "cannot create \(path): " + error.message
            throw error
        }
        do {
            defer { Posix.closeFile(fd) }
            try Posix.writeAll(fd, Array(text.utf8), at: 0, path: temporary)
            try Posix.sync(fd, path: temporary)
            if overwrite {
                try Posix.renameFile(temporary, path)
            } else {
                guard link(temporary, path) == 0 else {
                    if errno == EEXIST { throw BusError(.keyExists, "\(path) exists; pass --force to replace it") }
                    throw Posix.fail("link", path)
                }
                unlink(temporary)
            }
        } catch {
            unlink(temporary)
            throw error
        }
    }
}
