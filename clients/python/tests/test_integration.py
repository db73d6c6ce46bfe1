"""The Python client against real ``policybus serve`` and ``publish`` processes
(tcp loopback): the spec's scenario, resync after a gap, exact topics,
unsubscribe, and publisher/engine restarts."""

import asyncio

import pytest
import zmq

import policybus
import policybus.aio
from conftest import holding, wait_for

CLASSIFICATION = "p(x) :- data:q(x), gt(x, 2)\n"


def next_delta(sub, timeout=10):
    """The next change, which must be a delta (not a resync)."""
    change = sub.next_change(timeout)
    assert change is not None, "no change arrived"
    assert change.kind == "delta", change
    return change


def until(sub, predicate, timeout=10):
    """Reads changes until ``predicate(sub)`` holds; returns the changes."""
    got = []
    if predicate(sub):
        return got
    for change in sub.changes(timeout):
        got.append(change)
        if predicate(sub):
            return got
    raise AssertionError(f"condition not reached; changes: {got}")


@pytest.fixture
def data_and_engine(nodes):
    data = nodes.publish("data", {"q": []}, schema={"q": ["x"]})
    engine = nodes.serve("engine", {"classification": CLASSIFICATION}, peers={"data": data})
    return data, engine


# MARK: - The spec's scenario

def test_spec_scenario(data_and_engine):
    data, engine = data_and_engine
    with policybus.Subscriber(engine.control) as sub:
        sub.subscribe("classification:p")
        sub.wait_synced(10, live=True)  # our SUB subscription is in place
        first = sub.next_change(10)
        assert (first.kind, first.rows) == ("snapshot", frozenset())
        data.feed("+q(1)", "+q(3)")
        # Nothing is published for q(1): the first delta is +p(3), right
        # after the snapshot's sequence number.
        c = next_delta(sub)
        assert (c.added, c.removed, c.seq) == ([(3,)], [], first.seq + 1)
        data.feed("+q(4)")
        c = next_delta(sub)
        assert (c.added, c.removed) == ([(4,)], [])
        data.feed("-q(4)")
        c = next_delta(sub)
        assert (c.added, c.removed) == ([], [(4,)])
        with policybus.Subscriber(engine.control) as second:
            second.subscribe("classification:p")
            snap = second.next_change(10)
            assert (snap.kind, snap.rows) == ("snapshot", {(3,)})
            assert "classification:p" in second.status()["triggers"]
            second.unsubscribe("classification:p")
            assert "classification:p" in sub.status()["triggers"]  # the first still follows it
        sub.unsubscribe("classification:p")
        status = sub.status()
        assert "classification:p" not in status["triggers"]
        assert all("classification:p" not in s["tables"] for s in status["subscriptions"])


def test_control_errors_carry_the_server_code(data_and_engine):
    _, engine = data_and_engine
    with policybus.Subscriber(engine.control) as sub:
        with pytest.raises(policybus.PolicyBusError) as err:
            sub.subscribe("nosuchpolicy:p")
        assert err.value.code == "unknown-policy"
        with pytest.raises(policybus.PolicyBusError) as err:
            sub.insert_rule("classification", "r(x) :- ")
        assert err.value.code == "syntax-error"
        assert sub.subscribed == []


def test_rules_and_query(data_and_engine):
    data, engine = data_and_engine
    with policybus.Client(engine.control) as node:
        node.insert_rule("classification", "big(x) :- data:q(x), gt(x, 10)")
        assert any("big" in str(r) for r in node.rules("classification"))
        data.feed("begin", "+q(11)", "+q(5)", "commit")  # one transaction
        wait_for(lambda: node.query("classification:big") == {(11,)}, what="big(11)")
        assert node.query("classification:p(x)") == {(11,), (5,)}
        node.delete_rule("classification", "big(x) :- data:q(x), gt(x, 10)")
        assert not any("big" in str(r) for r in node.rules("classification"))


def test_policies_come_and_go(data_and_engine):
    _, engine = data_and_engine
    with policybus.Client(engine.control) as node:
        node.create_policy("fresh", "r(x) :- s(x)\ns(1)")
        assert {"name": "fresh", "rules": 1} in node.policies()
        assert node.query("fresh:r") == {(1,)}
        with pytest.raises(policybus.PolicyBusError) as err:
            node.create_policy("fresh")
        assert err.value.code == "policy-exists"
        with pytest.raises(policybus.PolicyBusError) as err:
            node.create_policy("1bad")
        assert err.value.code == "bad-policy-name"
        with pytest.raises(policybus.PolicyBusError) as err:
            node.create_policy("broken", "r(x) :- ")
        assert err.value.code == "syntax-error"
        assert "broken" not in [p["name"] for p in node.policies()]
        node.delete_policy("fresh")
        assert [p["name"] for p in node.policies()] == ["classification"]
        with pytest.raises(policybus.PolicyBusError) as err:
            node.delete_policy("fresh")
        assert err.value.code == "unknown-policy"


def test_simulate_leaves_the_engine_as_it_was(data_and_engine):
    data, engine = data_and_engine
    with policybus.Client(engine.control) as node:
        data.feed("+q(3)")
        wait_for(lambda: node.query("classification:p") == {(3,)}, what="p(3)")
        changes = [{"op": "facts", "action": "insert", "table": "data:q", "rows": [[7], [1]]},
                   {"op": "rules", "action": "insert", "policy": "classification", "rule": "big(x) :- p(x), gt(x, 5)"}]
        deltas = node.simulate(changes, ["classification:p", "classification:big"])
        assert deltas == [{"table": "classification:p", "added": [[7]], "removed": []},
                          {"table": "classification:big", "added": [[7]], "removed": []}]
        assert node.query("classification:p") == {(3,)}
        assert "big" not in " ".join(node.rules("classification"))
        with pytest.raises(policybus.PolicyBusError) as err:
            node.simulate([{"op": "query", "query": "classification:p"}], ["classification:p"])
        assert err.value.code == "bad-request"


async def _policies_through_asyncio(endpoint):
    async with policybus.aio.Client(endpoint) as node:
        await node.create_policy("later")
        names = [p["name"] for p in await node.policies()]
        await node.delete_policy("later")
        return names, [p["name"] for p in await node.policies()]


def test_policies_through_the_asyncio_client(data_and_engine):
    _, engine = data_and_engine
    created, deleted = asyncio.run(_policies_through_asyncio(engine.control))
    assert created == ["classification", "later"] and deleted == ["classification"]


# MARK: - Data sources: exact topics, unsubscribe, gaps, restarts

@pytest.fixture
def source(nodes):
    return nodes.publish("d", {"t": [[1]], "tt": [[2]]})


def test_exact_topics(source):
    with policybus.Subscriber(source.control) as a, policybus.Subscriber(source.control) as b:
        a.subscribe("d:t")
        b.subscribe("d:tt")
        a.wait_synced(10, live=True)
        b.wait_synced(10, live=True)
        assert a.next_change(10).rows == {(1,)}
        assert b.next_change(10).rows == {(2,)}
        source.feed("+tt(20)", "+t(10)")
        assert next_delta(a).added == [(10,)]
        assert next_delta(b).added == [(20,)]
        assert a.rows("d:t") == {(1,), (10,)} and b.rows("d:tt") == {(2,), (20,)}


def test_exact_topics_at_the_socket():
    """A raw SUB subscribed the way the client does never gets a longer name."""
    ctx = zmq.Context.instance()
    pub, sub = ctx.socket(zmq.PUB), ctx.socket(zmq.SUB)
    try:
        port = pub.bind_to_random_port("tcp://127.0.0.1")
        sub.setsockopt(zmq.SUBSCRIBE, policybus.protocol.topic("d:t"))
        sub.connect(f"tcp://127.0.0.1:{port}")
        sub.rcvtimeo = 100
        got = None
        for _ in range(50):  # until the subscription reaches the PUB
            pub.send(b"d:tt {}")
            pub.send(b"d:t {}")
            try:
                got = sub.recv()
                break
            except zmq.Again:
                continue
        assert got == b"d:t {}"
    finally:
        pub.close(linger=0)
        sub.close(linger=0)


def test_unsubscribe(source):
    with policybus.Subscriber(source.control) as sub:
        sub.subscribe("d:t", "d:tt")
        counts = {t["name"]: t["subscribers"] for t in sub.tables()}
        assert counts["d:t"] == 1 and counts["d:tt"] == 1
        sub.unsubscribe("d:t")
        counts = {t["name"]: t["subscribers"] for t in sub.tables()}
        assert counts["d:t"] == 0 and counts["d:tt"] == 1
        source.feed("+t(3)", "+tt(4)")
        got = until(sub, lambda s: s.rows("d:tt") == {(2,), (4,)})
        assert {c.table for c in got} == {"d:tt"}
        with pytest.raises(policybus.PolicyBusError):
            sub.rows("d:t")


def test_resync_after_a_gap(source):
    """Deltas lost on the wire (here: the SUB stops listening for a while) are
    noticed by the sequence check or the next heartbeat, and the resync, asked
    with ``since``, brings the missed deltas (the node still has them): the
    subscriber is back at the publisher's contents without a snapshot."""
    with policybus.Subscriber(source.control) as sub:
        sub.subscribe("d:t")
        assert sub.next_change(10).kind == "snapshot"
        prefix = policybus.protocol.topic("d:t")
        sub._sub.setsockopt(zmq.UNSUBSCRIBE, prefix)  # the wire loses what follows
        source.feed("+t(5)", "-t(1)")
        wait_for(lambda: next(t for t in sub.tables() if t["name"] == "d:t")["seq"] >= 2, what="seq 2")
        sub._sub.setsockopt(zmq.SUBSCRIBE, prefix)
        source.feed("+t(6)")
        got = until(sub, lambda s: s.rows("d:t") == {(5,), (6,)})
        assert {c.kind for c in got} == {"delta"} and sub.resyncs == sub.resumes >= 1
        assert sub.rows("d:t") == sub.query("d:t")


def test_slow_subscriber_with_tiny_hwm_converges(source):
    """Thousands of deltas against a subscriber that does not read and whose
    queues are tiny: the publisher drops some, and the client resyncs."""
    with policybus.Subscriber(source.control, rcvhwm=1, rcvbuf=4096) as sub:
        sub.subscribe("d:t")
        assert sub.next_change(10).kind == "snapshot"
        # 8000 deltas of 100 rows (about 8 MB): more than the publisher's
        # queue (1000 messages) and the kernel's buffers hold, so some drop.
        n, width = 8000, 50
        lines = [f"replace t [{', '.join(f'[{i * width + j}]' for j in range(width))}]" for i in range(n)]
        source.feed(*lines)
        with policybus.Client(source.control) as other:  # sub itself would read while it waits
            wait_for(lambda: next(t for t in other.tables() if t["name"] == "d:t")["seq"] >= n,
                     timeout=120, what="the publisher to finish")
        final = {((n - 1) * width + j,) for j in range(width)}
        until(sub, lambda s: s.rows("d:t") == final, timeout=60)
        print(f"resyncs: {sub.resyncs}")
        assert sub.resyncs >= 1, "nothing was dropped: make the flow bigger than the buffers"


def test_publisher_restart_new_epoch_resyncs(nodes):
    # Both ports are pinned: the restart binds the same ones again.
    src = nodes.publish("d", {"t": [[1]]}, extra=["--data", "tcp://127.0.0.1:*"])
    with policybus.Subscriber(src.control) as sub:
        sub.subscribe("d:t")
        epoch = sub.next_change(10) and sub.hello()["epoch"]
        src = nodes.restart(src)
        src.feed("+t(2)")
        got = until(sub, lambda s: s.rows("d:t") == {(1,), (2,)}, timeout=20)
        assert "resync" in [c.kind for c in got]
        assert sub.hello()["epoch"] != epoch
        sub.wait_synced(10)
        src.feed("+t(3)")
        got = until(sub, lambda s: s.rows("d:t") == {(1,), (2,), (3,)})
        assert (got[-1].kind, got[-1].added) == ("delta", [(3,)])


def test_engine_restart_new_epoch_resyncs(nodes):
    data = nodes.publish("data", {"q": [[3]]}, schema={"q": ["x"]})
    # The restart keeps both ports: the data port is kept in the data directory.
    engine = nodes.serve("engine", {"classification": CLASSIFICATION}, peers={"data": data})
    with policybus.Subscriber(engine.control) as sub:
        sub.subscribe("classification:p")
        until(sub, lambda s: s.rows("classification:p") == {(3,)})
        engine = nodes.restart(engine)
        data.feed("+q(5)")
        got = until(sub, lambda s: s.rows("classification:p") == {(3,), (5,)}, timeout=20)
        assert "resync" in [c.kind for c in got]
        sub.wait_synced(10)
        data.feed("+q(7)")
        got = until(sub, lambda s: s.rows("classification:p") == {(3,), (5,), (7,)})
        assert (got[-1].kind, got[-1].added) == ("delta", [(7,)])
        assert "classification:p" in sub.status()["triggers"]


def test_engine_restart_on_a_new_data_port_is_followed(nodes):
    """An engine with no data directory binds a free data port again when it
    restarts. Here the old port is held by someone else, so it must move: the
    subscriber learns the new one from a subscribe reply, moves its SUB there,
    and then gets deltas again (not only the snapshots its resyncs fetch)."""
    data = nodes.publish("data", {"q": [[3]]}, schema={"q": ["x"]})
    engine = nodes.serve("engine", {"classification": CLASSIFICATION}, peers={"data": data},
                         data_dir=False)
    with policybus.Subscriber(engine.control) as sub:
        sub.subscribe("classification:p")
        until(sub, lambda s: s.rows("classification:p") == {(3,)})
        old = engine.data
        engine.stop()
        with holding(old):
            engine = nodes.restart(engine)
            assert engine.data != old
            data.feed("+q(5)")
            got = until(sub, lambda s: s.rows("classification:p") == {(3,), (5,)}, timeout=20)
            assert "resync" in [c.kind for c in got]
            sub.wait_synced(10, live=True)
            data.feed("+q(7)")
            got = until(sub, lambda s: s.rows("classification:p") == {(3,), (5,), (7,)})
            assert (got[-1].kind, got[-1].added) == ("delta", [(7,)])


def test_asyncio_client_against_engine(nodes):
    engine = nodes.serve("engine", {"mark": "flag(x) :- seen(x), gt(x, 1)\n"})

    async def main():
        async with policybus.aio.Client(engine.control) as node:
            hello, status = await asyncio.gather(node.hello(), node.status())
            await node.insert_facts("mark:seen", [(1,), (2,), (3,)])
            await node.delete_facts("mark:seen", [(3,)])
            flagged = await node.query("mark:flag")
            await node.insert_rule("mark", "odd(x) :- seen(x), gt(x, 0), lt(x, 2)")
            rules = await node.rules("mark")
            odd = await node.query("mark:odd(x)")
            await node.delete_rule("mark", "odd(x) :- seen(x), gt(x, 0), lt(x, 2)")
            with pytest.raises(policybus.PolicyBusError) as err:
                await node.insert_rule("mark", "r(x) :- ")
            names = [t["name"] for t in await node.tables()]
            return hello, status, flagged, rules, odd, err.value, names, await node.rules("mark")

    hello, status, flagged, rules, odd, err, names, after = asyncio.run(asyncio.wait_for(main(), 60))
    assert (hello["name"], hello["kind"]) == ("engine", "engine")
    assert status["policies"] == ["mark"]
    assert flagged == {(2,)} and odd == {(1,)}
    assert any("odd" in str(r) for r in rules) and not any("odd" in str(r) for r in after)
    assert (err.code, err.endpoint) == ("syntax-error", engine.control)
    assert "mark:flag" in names


def test_asyncio_subscriber_against_engine(data_and_engine):
    data, engine = data_and_engine

    async def main():
        async with policybus.aio.Subscriber(engine.control) as sub:
            await sub.subscribe("classification:p")
            await sub.wait_synced(10, live=True)
            first = await sub.next_change(10)
            data.feed("+q(9)")
            second = await sub.next_change(10)
            return first, second, await sub.query("classification:p")

    first, second, rows = asyncio.run(asyncio.wait_for(main(), 30))
    assert first.kind == "snapshot" and (second.kind, second.added) == ("delta", [(9,)])
    assert rows == {(9,)}


# MARK: - CURVE against a real node

def test_curve_allow_list(nodes, tmp_path):
    keygen = lambda prefix: __import__("subprocess").run(  # noqa: E731
        [nodes.bin, "keygen", "--out", str(tmp_path / prefix)], check=True, capture_output=True, timeout=30)
    keygen("server")
    keygen("alice")
    allowed = tmp_path / "allowed"
    allowed.mkdir()
    (allowed / "alice.pub").write_bytes((tmp_path / "alice.pub").read_bytes())
    src = nodes.publish("d", {"t": [[1]]}, extra=["--curve-secret-key", str(tmp_path / "server.key"),
                                                   "--authorized-keys", str(allowed)])
    keys = {"server_key": str(tmp_path / "server.pub"),
            "public_key": str(tmp_path / "alice.pub"), "secret_key": str(tmp_path / "alice.key")}
    with policybus.Subscriber(src.control, **keys) as sub:
        sub.subscribe("d:t")
        assert sub.next_change(10).rows == {(1,)}
        sub.wait_synced(10, live=True)
        src.feed("+t(2)")
        assert next_delta(sub).added == [(2,)]  # deltas flow on the encrypted data socket
    # A client whose key is not on the list gets nothing at all.
    with policybus.Client(src.control, timeout=1, server_key=keys["server_key"]) as stranger:
        with pytest.raises(policybus.PolicyBusTimeout):
            stranger.hello()


def test_expired_lease_drops_the_trigger_and_the_client_recovers(nodes):
    data = nodes.publish("data", {"q": [[3]]}, schema={"q": ["x"]})
    engine = nodes.serve("engine", {"classification": CLASSIFICATION}, peers={"data": data},
                         extra=["--lease-ms", "2000"])  # outlasts the status check below on a slow machine
    with policybus.Subscriber(engine.control) as sub, policybus.Client(engine.control) as other:
        sub.subscribe("classification:p")
        assert "classification:p" in other.status()["triggers"]
        # The subscriber goes quiet (nobody iterates it, so it renews nothing):
        # the node drops its subscription and the trigger only it needed.
        wait_for(lambda: "classification:p" not in other.status()["triggers"], timeout=30,
                 what="the lease to expire")
        data.feed("+q(4)")
        # Back to work: the renew reply (or the silence) tells it, and it resubscribes.
        until(sub, lambda s: s.rows("classification:p") == {(3,), (4,)}, timeout=20)
        assert "classification:p" in other.status()["triggers"]


def test_pages_of_rows_tables_and_clients(nodes):
    """query, tables and status take offset/limit; a reply over the node's
    --max-reply-bytes is refused with reply-too-large, and pages get it all."""
    facts = "".join(f"q({i}).\n" for i in range(400))
    engine = nodes.serve("engine", {"e": facts}, extra=["--max-reply-bytes", "2048"])
    with policybus.Client(engine.control) as node:
        with pytest.raises(policybus.PolicyBusError) as err:
            node.request("query", query="e:q")
        assert err.value.code == "reply-too-large"
        rows: set[tuple] = set()
        for offset in range(0, 400, 100):
            page = node.query("e:q", offset=offset, limit=100)
            assert len(page) == 100
            rows |= page
        assert rows == {(i,) for i in range(400)}
        assert node.query("e:q", offset=398, limit=5) == {(398,), (399,)}
        assert [t["name"] for t in node.tables(limit=1)] == ["e:q"]
        for index in range(3):
            # A snapshot goes out whole, whatever the reply limit; the lease keeps the subscription.
            with policybus.Client(engine.control, client_id=f"c{index}") as other:
                assert len(other.request("subscribe", tables=["e:q"])["tables"]["e:q"]["rows"]) == 400
        status = node.status(offset=1, limit=1)
        assert [s["client"] for s in status["subscriptions"]] == ["c1"]
        assert status["subscriptions_more"] == 1


def test_query_without_a_limit_reads_a_reply_too_large_in_pages(nodes):
    """query() with no limit, over a reply the node refuses whole (and a first
    page of 10,000 rows too), halves its pages until they fit: every row comes
    back, from the blocking and the asyncio client alike."""
    published = {(i, f"name-{i}") for i in range(1500)}
    facts = "".join(f'q({i}, "{name}").\n' for i, name in sorted(published))
    engine = nodes.serve("engine", {"e": facts}, extra=["--max-reply-bytes", "4096"])
    with policybus.Client(engine.control) as node:
        with pytest.raises(policybus.PolicyBusError) as err:
            node.request("query", query="e:q", limit=10_000)
        assert err.value.code == "reply-too-large"
        assert node.query("e:q") == published
        assert node.query("e:q", offset=1000) == set(sorted(published)[1000:])

    async def main() -> set[tuple]:
        async with policybus.aio.Client(engine.control) as node:
            return await node.query("e:q")
    assert asyncio.run(asyncio.wait_for(main(), 60)) == published


# MARK: - The data port across restarts

def test_an_engine_with_a_data_directory_keeps_its_data_port(nodes, tmp_path):
    engine = nodes.serve("engine", {"k": "p(x) :- q(x)\nq(1)\n"})
    again = nodes.restart(engine)  # same --control and data directory, no --data
    assert again.data == engine.data
    assert (tmp_path / "engine.state" / "data-endpoint").read_text().strip() == engine.data



# MARK: - Truthful snapshots: not-ready

def test_subscribe_is_not_ready_until_the_peer_is_up_then_gets_every_row(nodes):
    data = nodes.publish("data", {"q": [[3], [4]]}, schema={"q": ["x"]})
    data.stop()
    engine = nodes.serve("engine", {"classification": CLASSIFICATION}, peers={"data": data},
                         extra=["--sync-wait-ms", "300"])
    with policybus.Client(engine.control) as client:
        with pytest.raises(policybus.PolicyBusError) as err:
            client.request("subscribe", tables=["classification:p"])
        assert err.value.code == "not-ready"

    async def main():
        async with policybus.aio.Subscriber(engine.control, timeout=5) as sub:
            subscribing = asyncio.ensure_future(sub.subscribe("classification:p", timeout=60))
            await asyncio.get_running_loop().run_in_executor(None, nodes.restart, data)
            await subscribing
            first = await sub.next_change(10)
            # The one snapshot is the whole table: nothing partial came first.
            assert (first.kind, first.rows) == ("snapshot", {(3,), (4,)})

    asyncio.run(main())


def test_a_table_of_many_chunks_syncs_equal_to_query(nodes):
    """A snapshot larger than many chunks (--snapshot-chunk-bytes 4096) is
    read in chunks by the blocking and the asyncio subscriber."""
    rows = [[f"k{n}", n] for n in range(20_000)]
    source = nodes.publish("d", {"q": rows}, extra=["--snapshot-chunk-bytes", "4096"])
    expected = {tuple(r) for r in rows}
    with policybus.Subscriber(source.control) as sub:
        sub.subscribe("d:q", timeout=60)
        assert sub.rows("d:q") == expected
        change = next(iter(sub))
        assert change.kind == "snapshot" and change.rows == frozenset(expected)
    with policybus.Client(source.control) as client:
        assert client.query("d:q") == expected
        assert client.status()["counters"]["snapshot_chunks"] >= 20_000 * 10 // 4096  # one snapshot read

    async def follow():
        async with policybus.aio.Subscriber(source.control) as sub:
            await sub.subscribe("d:q", timeout=60)
            # subscribe returns with the whole snapshot, not after its first chunk.
            assert sub.rows("d:q") == expected
            async for change in sub:
                return change
    change = asyncio.run(asyncio.wait_for(follow(), 60))
    assert change.kind == "snapshot" and change.rows == frozenset(expected)
