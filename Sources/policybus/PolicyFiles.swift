import ArgumentParser
import Foundation
import PolicyBus
import PolicyEngine

/// Policy files as the offline commands read them: each file is one policy,
/// named after the file's stem.
struct PolicyFiles {
    var sources: [OfflineEvaluation.PolicySource] = []
    /// Policy name to file path, for error messages.
    var fileOfPolicy: [String: String] = [:]

    /// Reads the files; `firstName` renames the first file's policy.
    init(_ paths: [String], firstName: String? = nil) throws(PolicyError) {
        for (index, path) in paths.enumerated() {
            let stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            let name = index == 0 ? (firstName ?? stem) : stem
            fileOfPolicy[name] = path
            sources.append(.init(name: name, text: try Self.read(path)))
        }
    }

    static func read(_ path: String) throws(PolicyError) -> String {
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw PolicyError(.unreadableFile, "cannot read policy file '\(path)'")
        }
        return text
    }

    /// A file's bytes, read into one array (no `Data` copied again): facts files can be large.
    static func bytes(_ path: String) -> [UInt8]? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        // One byte more than the size, so that the read that finds the end needs no room of its own.
        var bytes = [UInt8](repeating: 0, count: Int(status.st_size) + 1)
        var filled = 0
        while true {
            // The file may grow under us: read until its end.
            if filled == bytes.count { bytes += [UInt8](repeating: 0, count: 1 << 16) }
            let count = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + filled, $0.count - filled) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else { return nil }
            if count == 0 { break }
            filled += count
        }
        bytes.removeSubrange(filled...)
        return bytes
    }

    /// Reads `--schema SERVICE=FILE` options into qualified column lists.
    static func schemas(_ options: SchemaOptions) throws(PolicyError) -> [TableID: [String]] {
        var schemas: [TableID: [String]] = [:]
        for option in options.schemaFiles {
            guard let (service, file) = NameValueOption.split(option), !file.isEmpty, TableID.isIdentifier(service) else {
                throw PolicyError(.invalidFacts, "--schema takes SERVICE=FILE, not '\(option)'")
            }
            for (table, columns) in try schemaFile(file) {
                schemas[TableID(service: service, name: table)] = columns
            }
        }
        return schemas
    }

    /// A schema file: `{"table": ["column", ...], ...}`.
    static func schemaFile(_ path: String) throws(PolicyError) -> [String: [String]] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PolicyError(.unreadableFile, "cannot read schema file '\(path)'")
        }
        let schema = try OfflineEvaluation.parseSchema(data, file: path)
        for name in schema.keys where !TableID.isIdentifier(name) {
            throw PolicyError(.invalidFacts, "schema file '\(path)': '\(name)' is not a table name")
        }
        return schema
    }
}

/// `--schema SERVICE=FILE`, for the commands that check policies offline.
struct SchemaOptions: ParsableArguments {
    @Option(
        name: .customLong("schema"),
        help: "SERVICE=FILE: a data source's schema file, {\"table\": [\"column\", ...]}, so rules can name its columns (repeatable).")
    var schemaFiles: [String] = []
}
