import Foundation
import Testing
import ZeroMQ

@testable import PolicyBus

/// The relay's XSUB follows the upstream data endpoint that replies name; an
/// endpoint it cannot connect to must not cut it off from the one it has.
@Suite struct RelayUpstreamDataTests {
    @Test func anEndpointItCannotConnectToLeavesItOnTheOldOne() async throws {
        try await offPool {
            let context = try Context()
            let pub = try Socket(context, .pub)
            defer { pub.close() }
            try pub.bind("tcp://127.0.0.1:*")
            let endpoint = try pub.lastEndpoint
            let options = RelayOptions(upstreamControl: "tcp://127.0.0.1:1", upstreamData: endpoint, control: "tcp://127.0.0.1:*")
            let relay = try Relay(options: options, context: context)
            defer { for socket in [relay.router, relay.xpub, relay.xsub] { socket.close() } }
            #expect(relay.upstreamData == endpoint)
            relay.followUpstreamData("tcp://not an endpoint")
            #expect(relay.upstreamData == endpoint)
            // The XSUB still hears the PUB: subscribe, then publish until a frame arrives.
            try relay.xsub.send([[1] + Array("t ".utf8)])
            try relay.xsub.set(.receiveTimeout, Int32(100))
            let deadline = Date().addingTimeInterval(60)
            var heard = false
            while !heard && Date() < deadline {
                try pub.send([Array("t x".utf8)])
                heard = try relay.xsub.tryReceive() != nil || (try? relay.xsub.receive()) != nil
            }
            #expect(heard, "the XSUB lost its upstream")
        }
    }
}
