"""The blocking and asyncio subscribers over real ZeroMQ sockets, against the
in-process ``FakeNode`` (so these run without the Swift binary and can make
the publisher misbehave on purpose)."""

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
import zmq
import zmq.asyncio

import policybus
import policybus.aio
from policybus.testing import FakeNode


@pytest.fixture
def node():
    with FakeNode(heartbeat_ms=100, lease_ms=3000) as n:
        n.add_table("d:q", [(1,), (2,)])
        n.add_table("d:qq", [("x",)])
        yield n


@pytest.fixture
def sub(node):
    with policybus.Subscriber(node.control, timeout=3) as s:
        yield s


def changes_until(sub, pred, timeout=5.0):
    """Collects changes until ``pred(changes)`` holds; fails after ``timeout``."""
    got = []
    for change in sub.changes(timeout):
        got.append(change)
        if pred(got):
            return got
    pytest.fail(f"condition not reached; got {got}")


def test_snapshot_then_deltas(node, sub):
    sub.subscribe("d:q")
    first = sub.next_change(2)
    assert (first.kind, first.rows, first.seq) == ("snapshot", {(1,), (2,)}, 0)
    node.publish("d:q", added=[(3,)], removed=[(1,)])
    c = sub.next_change(2)
    assert (c.kind, c.added, c.removed, c.seq) == ("delta", [(3,)], [(1,)], 1)
    assert sub.rows("d:q") == {(2,), (3,)}


def test_lost_delta_is_caught_by_gap_and_resynced(node, sub):
    sub.subscribe("d:q")
    node.publish("d:q", added=[(3,)], lose=True)
    node.publish("d:q", added=[(4,)])
    got = changes_until(sub, lambda cs: cs[-1].kind == "resync")
    assert got[-1].added and set(got[-1].added) == {(3,), (4,)}
    assert sub.rows("d:q") == {(1,), (2,), (3,), (4,)}


def test_lost_final_delta_is_caught_by_heartbeat(node, sub):
    sub.subscribe("d:q")
    node.publish("d:q", removed=[(2,)], lose=True)
    got = changes_until(sub, lambda cs: cs[-1].kind == "resync")
    assert got[-1].removed == [(2,)]
    assert sub.rows("d:q") == {(1,)}


def test_restart_with_new_epoch_resyncs(node, sub):
    sub.subscribe("d:q")
    node.restart(keep_rows=False)
    node.publish("d:q", added=[(7,)])
    changes_until(sub, lambda cs: cs[-1].kind == "resync" and sub.rows("d:q") == {(7,)})
    node.publish("d:q", added=[(8,)])
    changes_until(sub, lambda cs: cs[-1].kind == "delta")
    assert sub.rows("d:q") == {(7,), (8,)}


def test_silent_publisher_is_resubscribed(node, sub):
    sub.subscribe("d:q")
    before = sum(1 for r in node.requests if r.get("op") == "subscribe")
    node.call(lambda n: setattr(n, "heartbeats", False))
    changes_until(sub, lambda cs: cs[-1].kind == "resync", timeout=3)
    after = sum(1 for r in node.requests if r.get("op") == "subscribe")
    assert after > before


def test_exact_topics(node, sub):
    sub.subscribe("d:q")
    node.publish("d:qq", added=[("y",)])
    node.send_raw(b"d:qq " + json.dumps({"type": "delta", "epoch": node.epoch, "seq": 1,
                                         "added": [[9]], "removed": []}).encode())
    node.publish("d:q", added=[(5,)])
    got = changes_until(sub, lambda cs: cs[-1].kind == "delta")
    assert {c.table for c in got} == {"d:q"}
    assert sub.rows("d:q") == {(1,), (2,), (5,)}


def test_unsubscribe_tells_the_node_and_stops_changes(node, sub):
    sub.subscribe("d:q", "d:qq")
    assert node.subscribers["d:q"] == {sub.client_id}
    sub.unsubscribe("d:q")
    assert node.call(lambda n: set(n.subscribers["d:q"])) == set()
    node.publish("d:q", added=[(6,)])
    node.publish("d:qq", added=[("z",)])
    got = changes_until(sub, lambda cs: cs[-1].kind == "delta")
    assert {c.table for c in got} == {"d:qq"}
    assert sub.subscribed == ["d:qq"]


def test_server_error_code_is_raised_and_table_not_followed(node, sub):
    with pytest.raises(policybus.PolicyBusError) as err:
        sub.subscribe("d:nope")
    assert err.value.code == "unknown-table"
    assert sub.subscribed == []


def test_wildcard_data_host_is_replaced_by_control_host():
    with FakeNode(advertise_host="0.0.0.0") as n:
        n.add_table("d:q", [(1,)])
        with policybus.Subscriber(n.control, timeout=3) as s:
            assert s.hello()["data"].startswith("tcp://0.0.0.0:")
            s.subscribe("d:q")
            n.publish("d:q", added=[(2,)])
            changes_until(s, lambda cs: cs[-1].kind == "delta")


def test_lease_is_renewed_while_iterating():
    with FakeNode(heartbeat_ms=100, lease_ms=600) as n:
        n.add_table("d:q")
        with policybus.Subscriber(n.control, timeout=3) as s:
            s.subscribe("d:q")
            list(s.changes(1.5))  # a renew is due every 0.2 s: room for a slow machine
        renews = [r for r in n.requests if r.get("op") == "renew"]
        assert len(renews) >= 2
        assert all(r["client"] == s.client_id for r in renews)


def test_callback_form(node, sub):
    sub.subscribe("d:q")
    seen = []

    def on_change(change):
        seen.append(change)
        if change.kind == "snapshot":
            node.publish("d:q", added=[(9,)])
        else:
            sub.stop()

    sub.run(on_change, timeout=5)
    assert [c.kind for c in seen] == ["snapshot", "delta"]


def test_control_timeout_raises_timeout_code():
    import zmq
    ctx = zmq.Context.instance()
    silent = ctx.socket(zmq.ROUTER)
    port = silent.bind_to_random_port("tcp://127.0.0.1")
    try:
        with policybus.Client(f"tcp://127.0.0.1:{port}", timeout=0.3) as c:
            with pytest.raises(policybus.PolicyBusTimeout) as err:
                c.hello()
            assert err.value.code == "timeout"
    finally:
        silent.close(linger=0)


def test_asyncio_subscriber(node):
    async def main():
        async with policybus.aio.Subscriber(node.control, timeout=3) as s:
            await s.subscribe("d:q")
            first = await s.next_change(2)
            node.publish("d:q", added=[(3,)], lose=True)
            node.publish("d:q", added=[(4,)])
            kinds = [first.kind]
            async for c in s.changes(5):
                kinds.append(c.kind)
                if c.kind == "resync":
                    break
            with pytest.raises(policybus.PolicyBusError) as err:
                await s.subscribe("d:none")
            return kinds, s.rows("d:q"), err.value.code, await s.query("d:q")

    kinds, rows, code, queried = asyncio.run(asyncio.wait_for(main(), 20))
    assert kinds == ["snapshot", "resync"]
    assert rows == {(1,), (2,), (3,), (4,)} == queried
    assert code == "unknown-table"


def test_command_line_prints_changes(node):
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(policybus.__file__)))
    proc = subprocess.Popen([sys.executable, "-m", "policybus", "subscribe", node.control, "d:q",
                             "--json", "--count", "2", "--timeout", "10"],
                            stdout=subprocess.PIPE, text=True, env=env)
    try:
        first = json.loads(proc.stdout.readline())
        assert first == {"table": "d:q", "kind": "snapshot", "seq": 0, "rows": [[1], [2]]}
        node.publish("d:q", added=[(3,)])
        second = json.loads(proc.stdout.readline())
        assert second == {"table": "d:q", "kind": "delta", "seq": 1, "added": [[3]], "removed": []}
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        proc.wait()


# MARK: - A moved data endpoint

def test_subscriber_follows_a_moved_data_endpoint(node, sub):
    sub.subscribe("d:q")
    old = node.data
    node.move_data()  # a restart on another port: the old one is closed
    assert node.data != old
    node.publish("d:q", added=[(5,)])  # sent where the SUB is not (yet) listening
    # Silence makes it ask again; the reply names the new port, and it moves.
    changes_until(sub, lambda cs: sub.rows("d:q") == {(1,), (2,), (5,)}, timeout=10)
    sub.wait_synced(10, live=True)
    node.publish("d:q", added=[(6,)])
    got = changes_until(sub, lambda cs: cs[-1].kind == "delta", timeout=10)
    assert got[-1].added == [(6,)]  # a delta, not a resync: it listens on the new port


def test_asyncio_subscriber_follows_a_moved_data_endpoint(node):
    async def main():
        async with policybus.aio.Subscriber(node.control, timeout=3) as s:
            await s.subscribe("d:q")
            node.move_data()
            node.publish("d:q", added=[(5,)])
            async for _ in s.changes(10):
                if s.rows("d:q") == {(1,), (2,), (5,)}:
                    break
            await s.wait_synced(5, live=True)
            node.publish("d:q", added=[(6,)])
            async for c in s.changes(5):
                if c.kind == "delta":
                    return c, s.rows("d:q")
            return None, s.rows("d:q")

    last, rows = asyncio.run(asyncio.wait_for(main(), 30))
    assert last is not None and last.added == [(6,)]
    assert rows == {(1,), (2,), (5,), (6,)}


# MARK: - Socket failures are PolicyBusErrors that name the endpoint

@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1", "nonsense", "smoke://127.0.0.1:1"])
def test_bad_endpoint(endpoint):
    for make in (policybus.Client, policybus.Subscriber):
        with pytest.raises(policybus.PolicyBusError) as err:
            make(endpoint, timeout=1)
        assert (err.value.code, err.value.endpoint) == ("bad-endpoint", endpoint)
        assert endpoint in str(err.value)

    async def make_async():
        policybus.aio.Client(endpoint)

    with pytest.raises(policybus.PolicyBusError) as err:
        asyncio.run(make_async())
    assert (err.value.code, err.value.endpoint) == ("bad-endpoint", endpoint)


def test_bad_data_endpoint_from_the_node(node):
    node.call(lambda n: setattr(n, "advertised_data", "tcp://no-port"))
    with policybus.Subscriber(node.control, timeout=3) as s:
        with pytest.raises(policybus.PolicyBusError) as err:
            s.subscribe("d:q")
        assert (err.value.code, err.value.endpoint) == ("bad-endpoint", "tcp://no-port")


def unused_endpoint():
    """A loopback endpoint nobody listens on: connecting is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"tcp://127.0.0.1:{probe.getsockname()[1]}"


def test_refused_connection_times_out_with_the_endpoint():
    endpoint = unused_endpoint()
    with policybus.Client(endpoint, timeout=0.5) as c:
        with pytest.raises(policybus.PolicyBusTimeout) as err:
            c.hello()
    assert (err.value.code, err.value.endpoint) == ("timeout", endpoint)
    assert endpoint in str(err.value)
    with policybus.Subscriber(endpoint, timeout=0.5) as s:
        with pytest.raises(policybus.PolicyBusTimeout) as err:
            s.subscribe("d:q")
    assert (err.value.code, err.value.endpoint) == ("timeout", endpoint)

    async def main():
        async with policybus.aio.Client(endpoint, timeout=0.5) as c:
            await c.hello()

    with pytest.raises(policybus.PolicyBusTimeout) as err:
        asyncio.run(main())
    assert (err.value.code, err.value.endpoint) == ("timeout", endpoint)


def test_a_node_that_is_down_never_blocks_a_request():
    """The DEALER queues requests for a node that is down, up to its
    high-water mark (1000), and a blocking send would then hang the caller
    (on asyncio: the event loop). Past that point a request fails at once."""
    endpoint = unused_endpoint()
    queued = 1100  # more than the high-water mark

    def sync_messages():
        with policybus.Client(endpoint, timeout=0.001) as c:
            return {error_of(c.hello).message for _ in range(queued)}

    async def async_messages():
        got = set()
        async with policybus.aio.Client(endpoint, timeout=0.001) as c:
            for _ in range(queued):
                try:
                    await c.hello()
                except policybus.PolicyBusTimeout as err:
                    got.add(err.message)
        return got

    for messages in (sync_messages(), asyncio.run(asyncio.wait_for(async_messages(), 120))):
        assert f"no reply from {endpoint}: the queue of requests to it is full" in messages
        assert f"no reply from {endpoint} in 0.001s" in messages


def error_of(call):
    with pytest.raises(policybus.PolicyBusTimeout) as err:
        call()
    return err.value


def first_error(call, timeout=10.0):
    """Calls ``call()`` until it raises a PolicyBusError, which it returns (a
    raw zmq.ZMQError fails the test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            call()
        except policybus.PolicyBusError as err:
            return err
    raise AssertionError("no error")


def test_socket_failure_is_a_transport_error(node):
    """A context being terminated fails every socket call with ETERM: the
    caller sees a PolicyBusError, never a zmq.ZMQError."""
    ctx = zmq.Context()
    client = policybus.Client(node.control, timeout=3, context=ctx)
    term = threading.Thread(target=ctx.term)  # returns once the socket is closed
    term.start()
    try:
        err = first_error(client.hello)
        assert (err.code, err.endpoint) == ("transport", node.control)
        assert isinstance(err.__cause__, zmq.ZMQError)
    finally:
        client.close()
        term.join(10)


def test_asyncio_socket_failure_is_a_transport_error(node):
    async def main():
        ctx = zmq.asyncio.Context()
        client = policybus.aio.Client(node.control, timeout=3, context=ctx)
        assert (await client.hello())["name"] == node.name  # the pump runs
        term = threading.Thread(target=ctx.term)
        term.start()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    await client.hello()
                except policybus.PolicyBusError as err:
                    return err
            raise AssertionError("no error")
        finally:
            await client.close()
            term.join(10)

    err = asyncio.run(main())
    assert (err.code, err.endpoint) == ("transport", node.control)


# MARK: - The asyncio control client

def test_asyncio_client_runs_concurrent_calls(node):
    async def main():
        async with policybus.aio.Client(node.control, timeout=3) as c:
            results = await asyncio.gather(c.hello(), c.query("d:q"), c.tables(), c.query("d:qq"))
            with pytest.raises(policybus.PolicyBusError) as err:
                await c.query("d:nope")
            return results, err.value
    (hello, rows, tables, other), err = asyncio.run(asyncio.wait_for(main(), 20))
    assert hello["name"] == node.name and rows == {(1,), (2,)} and other == {("x",)}
    assert sorted(t["name"] for t in tables) == ["d:q", "d:qq"]
    assert (err.code, err.endpoint) == ("unknown-table", node.control)


def test_asyncio_client_after_close_raises_closed(node):
    async def main():
        c = policybus.aio.Client(node.control, timeout=3)
        assert (await c.hello())["name"] == node.name
        await c.close()
        await c.close()  # twice is fine
        await c.hello()

    with pytest.raises(policybus.PolicyBusError) as err:
        asyncio.run(main())
    assert err.value.code == "closed"


# MARK: - CURVE

curve = pytest.mark.skipif(not __import__("zmq").has("curve"), reason="libzmq without CURVE")


@curve
def test_curve_with_the_server_key_works_and_with_a_wrong_one_times_out(tmp_path):
    import zmq
    server_public, server_secret = zmq.curve_keypair()
    with FakeNode(curve_secret_key=server_secret) as n:
        n.add_table("d:q", [(1,)])
        key_file = tmp_path / "server.pub"
        key_file.write_bytes(server_public + b"\n")
        with policybus.Subscriber(n.control, timeout=3, server_key=str(key_file)) as s:
            s.subscribe("d:q")
            assert s.next_change(2).rows == {(1,)}
            n.publish("d:q", added=[(2,)])
            changes_until(s, lambda cs: cs[-1].kind == "delta")  # the data socket is encrypted too
        wrong, _ = zmq.curve_keypair()
        with policybus.Client(n.control, timeout=0.5, server_key=wrong) as c:
            with pytest.raises(policybus.PolicyBusTimeout):
                c.hello()
        with policybus.Client(n.control, timeout=0.5) as plain:
            with pytest.raises(policybus.PolicyBusTimeout):
                plain.hello()


@curve
def test_curve_key_files_are_checked(tmp_path):
    import zmq
    from policybus.keys import read_key
    public, secret = zmq.curve_keypair()
    secret_file = tmp_path / "me.key"
    secret_file.write_bytes(secret + b"\n")
    secret_file.chmod(0o644)
    with pytest.raises(policybus.PolicyBusError) as err:
        read_key(str(secret_file), secret=True)
    assert err.value.code == "key-too-open"
    secret_file.chmod(0o600)
    assert read_key(str(secret_file), secret=True) == secret
    assert read_key(public.decode()) == public
    with pytest.raises(policybus.PolicyBusError) as err:
        read_key("not a key")
    assert err.value.code == "bad-key"
    with pytest.raises(policybus.PolicyBusError) as err:
        policybus.Client("tcp://127.0.0.1:1", public_key=public, secret_key=secret)
    assert err.value.code == "bad-key"


def test_the_fake_node_pages_like_a_node(node):
    """FakeNode answers query and tables with offset/limit and ``more``, as
    PROTOCOL.md section 4 says a node does."""
    with policybus.Client(node.control, timeout=3) as c:
        assert c.query("d:q", limit=1) == {(1,)}
        assert c.query("d:q", offset=1, limit=5) == {(2,)}
        assert c.request("query", query="d:q", limit=1)["more"] == 1
        assert [t["name"] for t in c.tables(offset=1)] == ["d:qq"]
