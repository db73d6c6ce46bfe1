"""A client that pipelines many requests and reads none of the replies fills
its connection's send queue at the node (or at the relay in front of it):
the node or relay drops what does not fit, without blocking its loop, and
counts every drop (``replies_dropped``), so that the replies received and
the replies dropped add up to the requests."""

import json
import re
import urllib.request

import zmq

from conftest import wait_for

REQUESTS = 30_000


def status(endpoint):
    with zmq.Context() as context, context.socket(zmq.DEALER) as socket:
        socket.connect(endpoint)
        socket.send(json.dumps({"op": "status", "id": 0}).encode())
        assert socket.poll(30_000), "no status reply"
        return json.loads(socket.recv())


def node_drops(node):
    return status(node.control)["counters"].get("replies_dropped", 0)


class SlowReader:
    """A DEALER that sends ``REQUESTS`` hellos and reads their replies only
    when asked: until then its connection's queues fill."""

    def __init__(self, context, endpoint):
        self.socket = context.socket(zmq.DEALER)
        self.socket.setsockopt(zmq.RCVHWM, 1)
        self.socket.setsockopt(zmq.RCVBUF, 4096)  # the kernel buffers little of what it does not read
        self.socket.connect(endpoint)
        for index in range(REQUESTS):
            self.socket.send(json.dumps({"op": "hello", "id": index, "client": "slow"}).encode())
        self.received = 0

    def read(self):
        """Replies read so far."""
        while self.socket.poll(0):
            self.socket.recv()
            self.received += 1
        return self.received


def scraped_counters(process):
    """A node's or relay's unlabelled counters, scraped over HTTP from its
    ``/metrics`` (``--metrics``)."""
    address = next(m.group(1) for line in process.log if (m := re.search(r" metrics=(\S+)", line)))
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=30) as response:
        text = response.read().decode()
    return {name: float(value) for name, value in re.findall(r"^(policybus_\w+_total) (\S+)$", text, re.M)}


def test_replies_that_do_not_fit_are_dropped_and_counted(nodes):
    node = nodes.publish("d", {"t": [[1]]}, extra=["--metrics", "127.0.0.1:*"])
    context = zmq.Context()
    try:
        slow = SlowReader(context, node.control)
        wait_for(lambda: slow.read() + node_drops(node) >= REQUESTS, what=f"{REQUESTS} replies received or dropped")
        dropped = node_drops(node)
        print(f"test_reply_drops: {REQUESTS} requests, {slow.received} replies received, {dropped} dropped")
        assert dropped > 0, "every reply fit: the test measures nothing"
        assert slow.received + dropped == REQUESTS
        assert scraped_counters(node)["policybus_replies_dropped_total"] == dropped
        # The node still serves everyone else.
        assert status(node.control)["ok"] is True
        assert any("reply dropped" in line for line in node.log)
    finally:
        context.destroy(linger=0)


def test_a_relay_drops_and_counts_the_replies_that_do_not_fit(nodes):
    node = nodes.publish("d", {"t": [[1]]})
    relay = nodes._start([nodes.bin, "relay", "--name", "relay", "--upstream-control", node.control,
                          "--control", "tcp://127.0.0.1:*", "--metrics", "127.0.0.1:*"], "relay")
    context = zmq.Context()
    try:
        slow = SlowReader(context, relay.control)

        def accounted():
            """Every request is a reply received, or a reply the relay
            dropped, or a request it could not pass up, or a reply the node
            dropped."""
            counters = scraped_counters(relay)
            return (slow.read() + counters["policybus_relay_replies_dropped_total"]
                    + counters["policybus_relay_requests_dropped_total"] + node_drops(node))

        wait_for(lambda: accounted() >= REQUESTS, what=f"{REQUESTS} replies received or dropped")
        counters = scraped_counters(relay)
        dropped = counters["policybus_relay_replies_dropped_total"]
        print(f"test_reply_drops relay: {REQUESTS} requests, {slow.received} replies received, {dropped:.0f} dropped "
              f"by the relay, {counters['policybus_relay_requests_dropped_total']:.0f} requests not passed up, "
              f"{node_drops(node)} replies dropped by the node")
        assert dropped > 0, "every reply fit: the test measures nothing"
        assert accounted() == REQUESTS
        # The relay still serves everyone else.
        assert status(relay.control)["ok"] is True
        assert any("reply dropped" in line for line in relay.log)
    finally:
        context.destroy(linger=0)
