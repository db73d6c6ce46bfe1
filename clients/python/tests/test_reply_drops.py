"""A client that pipelines many requests and reads none of the replies fills
its connection's send queue at the node (or at the relay in front of it):
the node or relay drops what does not fit, without blocking its loop, and
counts every drop (``replies_dropped``), so that the replies received and
the replies dropped add up to the requests.

Each test reads nothing until the node (or relay) has answered every
request, as its counters say; then it reads every reply that was kept."""

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


def scrape(process):
    """A node's or relay's counters, scraped over HTTP from its ``/metrics``
    (``--metrics``): ``{"name{label=value,...}": value}``, labels sorted."""
    address = next(m.group(1) for line in process.log if (m := re.search(r" metrics=(\S+)", line)))
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=30) as response:
        text = response.read().decode()
    samples = {}
    for name, labels, value in re.findall(r"^(policybus_\w+_total)(?:\{(.*)\})? (\S+)$", text, re.M):
        key = ",".join(sorted(labels.split(","))) if labels else ""
        samples[f"{name}{{{key}}}" if key else name] = float(value)
    return samples


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
        """Replies read so far: it reads until none comes for 0.1 s."""
        while self.socket.poll(100):
            self.socket.recv()
            self.received += 1
        return self.received


def test_replies_that_do_not_fit_are_dropped_and_counted(nodes):
    node = nodes.publish("d", {"t": [[1]]}, extra=["--metrics", "127.0.0.1:*"])
    context = zmq.Context()
    try:
        slow = SlowReader(context, node.control)

        def answered():
            """The hellos answered, and refused ``busy`` (a connection may
            have 1000 requests waiting at the node): every request but ours."""
            return sum(value for key, value in scrape(node).items()
                       if key.startswith("policybus_requests_total{") and 'op="status"' not in key)

        wait_for(lambda: answered() >= REQUESTS, timeout=180, what=f"{REQUESTS} requests answered")
        dropped = node_drops(node)
        wait_for(lambda: slow.read() + dropped >= REQUESTS, timeout=180, what=f"{REQUESTS} replies received or dropped")
        print(f"test_reply_drops: {REQUESTS} requests, {slow.received} replies received, {dropped} dropped")
        assert dropped > 0, "every reply fit: the test measures nothing"
        assert slow.received + dropped == REQUESTS
        assert scrape(node)["policybus_replies_dropped_total"] == dropped
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

        def unanswered(counters):
            """Requests the relay has not yet passed down a reply for, nor
            dropped, nor lost a reply for at the node."""
            return (REQUESTS - counters["policybus_relay_messages_total{direction=\"down\",kind=\"reply\"}"]
                    - counters["policybus_relay_replies_dropped_total"]
                    - counters["policybus_relay_requests_dropped_total"] - node_drops(node))

        wait_for(lambda: unanswered(scrape(relay)) <= 0, timeout=180, what=f"{REQUESTS} requests answered at the relay")
        counters = scrape(relay)
        passed = counters["policybus_relay_messages_total{direction=\"down\",kind=\"reply\"}"]
        dropped = counters["policybus_relay_replies_dropped_total"]
        wait_for(lambda: slow.read() >= passed, timeout=180, what=f"{passed:.0f} replies received")
        print(f"test_reply_drops relay: {REQUESTS} requests, {slow.received} replies received, {dropped:.0f} dropped "
              f"by the relay, {counters['policybus_relay_requests_dropped_total']:.0f} requests not passed up, "
              f"{node_drops(node)} replies dropped by the node")
        assert dropped > 0, "every reply fit: the test measures nothing"
        assert unanswered(counters) == 0 and slow.received == passed
        # The relay still serves everyone else.
        assert status(relay.control)["ok"] is True
        assert any("reply dropped" in line for line in relay.log)
    finally:
        context.destroy(linger=0)
