import Foundation
import PolicyBus
import Testing
import ZeroMQ
import TestSupport

@Suite struct KeyFileTests {
    static func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require(attributes[.posixPermissions] as? Int)
    }

    @Test func writesAKeyPairThatReadsBackAndMatches() throws {
        let keys = try CurveKeyPair.generate()
        try withTemporaryDirectory { dir in
            let paths = try KeyFile.writeKeyPair(
                publicKey: keys.publicKey, secretKey: keys.secretKey, prefix: dir + "/server", overwrite: false)
            #expect(paths.secretPath == dir + "/server.key")
            #expect(paths.publicPath == dir + "/server.pub")
            #expect(try Self.mode(paths.secretPath) == 0o600)
            #expect(try Self.mode(paths.publicPath) & 0o600 == 0o600, "the owner can read the public key")

            let secret = try KeyFile.readSecretKey(paths.secretPath)
            let publicKey = try KeyFile.readPublicKey(paths.publicPath)
            #expect(try CurveKeyPair(publicKey: publicKey, secretKey: secret) == keys)
            #expect(try readBytes(paths.publicPath).count == 41)
        }
    }

    @Test func secretKeyIsPrivateEvenUnderAPermissiveUmask() throws {
        let keys = try CurveKeyPair.generate()
        let old = umask(0)
        defer { umask(old) }
        try withTemporaryDirectory { dir in
            let paths = try KeyFile.writeKeyPair(
                publicKey: keys.publicKey, secretKey: keys.secretKey, prefix: dir + "/k", overwrite: false)
            #expect(try Self.mode(paths.secretPath) == 0o600)
        }
    }

    @Test func refusesToOverwriteEitherFileUnlessForced() throws {
        let first = try CurveKeyPair.generate()
        let second = try CurveKeyPair.generate()
        try withTemporaryDirectory { dir in
            let prefix = dir + "/k"
            try writeBytes(Array("something else\n".utf8), to: prefix + ".pub")
            let error = #expect(throws: BusError.self) {
                try KeyFile.writeKeyPair(
                    publicKey: first.publicKey, secretKey: first.secretKey, prefix: prefix, overwrite: false)
            }
            #expect(error?.code == .keyExists)
            #expect(!FileManager.default.fileExists(atPath: prefix + ".key"), "nothing written")

            try KeyFile.writeKeyPair(publicKey: first.publicKey, secretKey: first.secretKey, prefix: prefix, overwrite: true)
            try KeyFile.writeKeyPair(publicKey: second.publicKey, secretKey: second.secretKey, prefix: prefix, overwrite: true)
            #expect(try KeyFile.readSecretKey(prefix + ".key") == second.secretKey)
            #expect(try Self.mode(prefix + ".key") == 0o600)
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.contains(".tmp") }
            #expect(leftovers.isEmpty)
        }
    }

    @Test func refusesASecretKeyOthersCanRead() throws {
        let keys = try CurveKeyPair.generate()
        try withTemporaryDirectory { dir in
            let paths = try KeyFile.writeKeyPair(
                publicKey: keys.publicKey, secretKey: keys.secretKey, prefix: dir + "/k", overwrite: false)
            chmod(paths.secretPath, 0o640)
            let error = #expect(throws: BusError.self) { try KeyFile.readSecretKey(paths.secretPath) }
            #expect(error?.code == .keyTooOpen)
        }
    }

    @Test func readsAnAllowListDirectoryAndRejectsAFileThatIsNotAKey() throws {
        let clients = try (0..<3).map { _ in try CurveKeyPair.generate() }
        try withTemporaryDirectory { dir in
            for (index, client) in clients.enumerated() {
                try writeBytes(Array("  \(client.publicKey)\r\n".utf8), to: dir + "/client\(index).pub")
            }
            try writeBytes(Array("ignored".utf8), to: dir + "/.hidden")
            try FileManager.default.createDirectory(atPath: dir + "/subdir", withIntermediateDirectories: false)
            let keys = try KeyFile.readAuthorizedKeys(directory: dir)
            #expect(keys.map(\.key) == clients.map(\.publicKey))
            #expect(keys.map(\.file) == (0..<3).map { dir + "/client\($0).pub" })

            try writeBytes(Array("not a key".utf8), to: dir + "/broken.pub")
            let error = #expect(throws: BusError.self) { try KeyFile.readAuthorizedKeys(directory: dir) }
            #expect(error?.code == .badKey)
            #expect(error?.message.contains("broken.pub") == true)
        }
    }
}
