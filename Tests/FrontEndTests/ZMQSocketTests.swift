import FinchKernel
import Foundation
import Testing

/// Bounds every wait in these tests: a broken socket fails the test instead of hanging it.
let pollLimit = 5_000

/// Waits (bounded) until `socket` has a message, then receives it.
func receive(_ socket: ZMQSocket) throws -> [[UInt8]] {
    try #require(ZMQSocket.poll([socket], timeoutMilliseconds: pollLimit) == [0], "no message within \(pollLimit) ms")
    return try socket.receive()
}

@Suite struct ZMQSocketTests {
    @Test func requestReplyRoundTripOnEphemeralPort() throws {
        let context = try ZMQContext()
        let server = try ZMQSocket(context, type: .rep)
        try server.bind("tcp://127.0.0.1:*")
        let endpoint = try server.lastEndpoint()
        #expect(endpoint.hasPrefix("tcp://127.0.0.1:"))
        #expect(Int(endpoint.split(separator: ":").last ?? "").map { $0 > 0 } == true)

        let client = try ZMQSocket(context, type: .req)
        try client.connect(endpoint)
        try client.send([Array("ping খুব 🙂".utf8)])
        #expect(try receive(server) == [Array("ping খুব 🙂".utf8)])
        try server.send([Array("pong".utf8), []])
        #expect(try receive(client) == [Array("pong".utf8), []])
    }

    @Test func routerDealerMultipartWithIdentities() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, type: .router)
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context, type: .dealer)
        try dealer.setRoutingID(Array("client-1".utf8))
        try dealer.connect(try router.lastEndpoint())

        let binary: [UInt8] = [0, 255, 0, 10, 13]
        let request: [[UInt8]] = [Array("<IDS|MSG>".utf8), [], binary, Array("{}".utf8)]
        try dealer.send(request)
        let received = try receive(router)
        #expect(received == [Array("client-1".utf8)] + request)

        try router.send([received[0], Array("reply".utf8), binary])
        #expect(try receive(dealer) == [Array("reply".utf8), binary])
    }

    @Test func pollWatchesSeveralSockets() throws {
        let context = try ZMQContext()
        let routers = try (0..<3).map { _ in try ZMQSocket(context, type: .router) }
        let dealers = try routers.map { router in
            try router.bind("tcp://127.0.0.1:*")
            let dealer = try ZMQSocket(context, type: .dealer)
            try dealer.connect(try router.lastEndpoint())
            return dealer
        }
        try dealers[2].send([Array("to the third".utf8)])
        try #require(ZMQSocket.poll(routers, timeoutMilliseconds: pollLimit) == [2])
        #expect(try routers[2].receive().last == Array("to the third".utf8))
        withExtendedLifetime(dealers) {}
    }

    @Test func messagesSentJustBeforeCloseAreDelivered() throws {
        // 200 × 64 KiB cannot leave in the instant between send and close: the linger delivers them.
        let context = try ZMQContext()
        let router = try ZMQSocket(context, type: .router)
        try router.bind("tcp://127.0.0.1:*")
        let dealer = try ZMQSocket(context, type: .dealer)
        try dealer.connect(try router.lastEndpoint())
        let payload = [UInt8](repeating: 7, count: 65_536)
        for index in 0..<200 {
            try dealer.send([[UInt8(index)], payload])
        }
        dealer.close()
        for index in 0..<200 {
            let message = try receive(router)
            try #require(message.count == 3 && message[1] == [UInt8(index)] && message[2] == payload)
        }
    }

    @Test func pollTimesOutWithoutEvents() throws {
        let context = try ZMQContext()
        let router = try ZMQSocket(context, type: .router)
        try router.bind("tcp://127.0.0.1:*")
        let start = ContinuousClock.now
        #expect(try ZMQSocket.poll([router], timeoutMilliseconds: 50) == [])
        #expect(ContinuousClock.now - start >= .milliseconds(40))
    }

    @Test func subscriptionsReachAnXPUB() throws {
        let context = try ZMQContext()
        let publisher = try ZMQSocket(context, type: .xpub)
        try publisher.bind("tcp://127.0.0.1:*")
        let subscriber = try ZMQSocket(context, type: .sub)
        try subscriber.subscribe()
        try subscriber.connect(try publisher.lastEndpoint())

        #expect(try receive(publisher) == [[1]])  // 1 = subscribe, then the (empty) prefix
        try publisher.send([Array("iopub".utf8), Array("status".utf8)])
        #expect(try receive(subscriber) == [Array("iopub".utf8), Array("status".utf8)])
    }

    @Test(arguments: ["tcp://not an address", "nosuchtransport://127.0.0.1:1"])
    func badEndpointErrorNamesIt(endpoint: String) throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, type: .router)
        let error = #expect(throws: ZMQError.self) { try socket.bind(endpoint) }
        #expect(error?.operation == "bind")
        #expect(error?.endpoint == endpoint)
        #expect(error?.description.contains(endpoint) == true)
        #expect(error?.message.isEmpty == false)
    }

    @Test func bindingATakenPortFails() throws {
        let context = try ZMQContext()
        let first = try ZMQSocket(context, type: .router)
        try first.bind("tcp://127.0.0.1:*")
        let endpoint = try first.lastEndpoint()
        let second = try ZMQSocket(context, type: .router)
        let error = #expect(throws: ZMQError.self) { try second.bind(endpoint) }
        #expect(error?.code == EADDRINUSE)
        #expect(error?.description.contains(endpoint) == true)
    }

    @Test func lingerAndClose() throws {
        let context = try ZMQContext()
        let socket = try ZMQSocket(context, type: .dealer)
        try socket.setLinger(milliseconds: 0)
        try socket.connect("tcp://127.0.0.1:1")
        try socket.send([Array("never delivered".utf8)])
        socket.close()
        socket.close()
        #expect(throws: ZMQError.self) { try socket.send([[1]]) }
    }
}
