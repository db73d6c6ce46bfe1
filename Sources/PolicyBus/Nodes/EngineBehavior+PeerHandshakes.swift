import Logging

extension EngineBehavior {
    /// Logs, once per cause, why a peer's security handshake fails (a refused
    /// key, a wrong server key): otherwise the engine would only retry its
    /// subscriptions silently.
    func reportPeerHandshakes() {
        for (service, connection) in peers {
            let failure = connection.handshakeFailure
            if let failure, peerHandshakeFailures[service] != failure {
                logger.warning(
                    "cannot reach peer: \(failure)",
                    metadata: ["peer": "\(service)", "endpoint": "\(connection.session.controlEndpoint)", "hint": "--peer-server-key, --peer-client-key"])
            }
            peerHandshakeFailures[service] = failure
        }
    }
}
