import ArgumentParser
import Foundation
import PolicyBus
import ZeroMQ


/// `policybus keygen`: writes a CURVE key pair for a server or a client.
struct KeygenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen",
        abstract: "Write a CURVE key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub (public), in Z85.",
        discussion: """
            Give a server its .key with --curve-secret-key and its clients the .pub. \
            Put each client's .pub in the server's --authorized-keys directory.
            """
    )

    @Option(name: .long, help: "Path prefix of the two files.")
    var out: String = "policybus"

    @Flag(name: .long, help: "Replace existing key files.")
    var force = false

    func run() throws {
        guard CurveKeyPair.isAvailable else {
            throw BusError(.notSupported, "this libzmq was built without CURVE support").exit
        }
        let keys = try CurveKeyPair.generate()
        do {
            let paths = try KeyFile.writeKeyPair(
                publicKey: keys.publicKey, secretKey: keys.secretKey, prefix: out, overwrite: force)
            print("secret key: \(paths.secretPath) (mode 0600; keep it private)")
            print("public key: \(paths.publicPath) \(keys.publicKey)")
        } catch {
            // Not a usage mistake, so no usage text: say what failed and exit 1.
            throw error.exit
        }
    }
}

