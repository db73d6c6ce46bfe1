import Testing
import ZeroMQ

@Suite struct PubSubTests {
    /// Receives until the `end` topic, skipping sync messages.
    func topics(until end: String, from sub: Socket) throws -> [String] {
        var seen: [String] = []
        while true {
            let topic = try sub.receive()[0].text
            if topic.hasSuffix("#sync") { continue }
            seen.append(topic)
            if topic == end { return seen }
        }
    }

    @Test(arguments: Transport.allCases)
    func prefixFilteringAlsoMatchesLongerTopics(over transport: Transport) throws {
        try withContext { context in
            let pub = try Socket(context, .pub)
            let sub = try Socket(context, .sub)
            try sub.set(.receiveTimeout, 10_000)
            try bindAndConnect(pub, sub, over: transport)
            try sub.subscribe("a:b")
            try awaitSubscription(pub: pub, sub: sub, topic: "a:b")
            for topic in ["a:b", "a:bc", "a:x", "b", "A:b", "a:", "xa:b", "a:b#end"] {
                try pub.send([[UInt8](topic), [UInt8]("payload")])
            }
            // "a:bc" matches the subscription "a:b": filtering is by prefix.
            #expect(try topics(until: "a:b#end", from: sub) == ["a:b", "a:bc", "a:b#end"])
            pub.close()
            sub.close()
        }
    }

    @Test func separatorMakesTheMatchExactAndUnsubscribeStops() throws {
        try withContext { context in
            let pub = try Socket(context, .pub)
            let sub = try Socket(context, .sub)
            try sub.set(.receiveTimeout, 10_000)
            try bindAndConnect(pub, sub, over: .tcp)
            try sub.subscribe("a:b ")
            try sub.subscribe("z")
            try awaitSubscription(pub: pub, sub: sub, topic: "z")
            for topic in ["a:bc x", "a:b x", "z#end"] {
                try pub.send([[UInt8](topic)])
            }
            #expect(try topics(until: "z#end", from: sub) == ["a:b x", "z#end"])

            try sub.unsubscribe("a:b ")
            try sub.subscribe("y")
            try awaitSubscription(pub: pub, sub: sub, topic: "y")
            for topic in ["a:b x", "y#end"] {
                try pub.send([[UInt8](topic)])
            }
            #expect(try topics(until: "y#end", from: sub).filter { !$0.hasPrefix("z") } == ["y#end"])
            pub.close()
            sub.close()
        }
    }

    @Test func xpubSeesSubscriptions() throws {
        try withContext { context in
            let xpub = try Socket(context, .xpub)
            let sub = try Socket(context, .sub)
            try xpub.set(.receiveTimeout, 10_000)
            try bindAndConnect(xpub, sub, over: .tcp)
            try sub.subscribe("t1")
            #expect(try xpub.receive() == [[1] + [UInt8]("t1")])
            try sub.unsubscribe("t1")
            #expect(try xpub.receive() == [[0] + [UInt8]("t1")])
            xpub.close()
            sub.close()
        }
    }

    /// A PUB whose subscriber does not read drops messages beyond the
    /// high-water marks instead of blocking or queueing without bound.
    @Test(arguments: [Transport.inproc, .tcp])
    func highWaterMarkDropsForSlowSubscriber(over transport: Transport) throws {
        try withContext { context in
            let pub = try Socket(context, .pub)
            let sub = try Socket(context, .sub)
            try pub.set(.sendHighWaterMark, 10)
            try sub.set(.receiveHighWaterMark, 10)
            try bindAndConnect(pub, sub, over: transport)
            try sub.subscribe("")
            try awaitSubscription(pub: pub, sub: sub, topic: "")
            let sent = 20_000
            let body = [UInt8](repeating: 0x42, count: 1024)
            var accepted = 0
            for index in 0..<sent {
                if try pub.trySend([[UInt8]("m\(index)"), body]) { accepted += 1 }
            }
            // A PUB never refuses: it drops.
            #expect(accepted == sent)

            var poller = Poller()
            poller.add(sub, events: .readable)
            var received = 0
            while try poller.poll(timeout: 500) > 0 {
                while let message = try sub.tryReceive() {
                    if !message[0].text.hasSuffix("#sync") { received += 1 }
                }
            }
            print("HWM 10/10 over \(transport): \(received) of \(sent) messages arrived")
            #expect(received > 0)
            #expect(received < sent)
            pub.close()
            sub.close()
        }
    }
}
