"""A client that pipelines many requests and reads none of the replies fills
its connection's send queue at the node: the node drops what does not fit,
without blocking its loop, and counts every drop (``replies_dropped``), so
that the replies received and the replies dropped add up to the requests."""

import json

import zmq

from conftest import wait_for

REQUESTS = 30_000


def status(endpoint):
    with zmq.Context() as context, context.socket(zmq.DEALER) as socket:
        socket.connect(endpoint)
        socket.send(json.dumps({"op": "status", "id": 0}).encode())
        assert socket.poll(30_000), "no status reply"
        return json.loads(socket.recv())


def test_replies_that_do_not_fit_are_dropped_and_counted(nodes):
    node = nodes.publish("d", {"t": [[1]]})
    context = zmq.Context()
    try:
        slow = context.socket(zmq.DEALER)
        slow.setsockopt(zmq.RCVHWM, 1)
        slow.setsockopt(zmq.RCVBUF, 4096)  # the kernel buffers little of what it does not read
        slow.connect(node.control)
        for index in range(REQUESTS):
            slow.send(json.dumps({"op": "hello", "id": index, "client": "slow"}).encode())
        received = 0

        def accounted():
            """Replies read so far plus replies the node dropped."""
            nonlocal received
            while slow.poll(0):
                slow.recv()
                received += 1
            return received + status(node.control)["counters"].get("replies_dropped", 0)

        wait_for(lambda: accounted() >= REQUESTS, what=f"{REQUESTS} replies received or dropped")
        dropped = status(node.control)["counters"].get("replies_dropped", 0)
        print(f"test_reply_drops: {REQUESTS} requests, {received} replies received, {dropped} dropped")
        assert dropped > 0, "every reply fit: the test measures nothing"
        assert received + dropped == REQUESTS
        # The node still serves everyone else.
        assert status(node.control)["ok"] is True
        assert any("reply dropped" in line for line in node.log)
    finally:
        context.destroy(linger=0)
