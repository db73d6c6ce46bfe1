"""An engine applies its peers' data within a budget (``serve
--peer-max-derived-rows``): a data source's client that replaces a table
with thousands of rows, joined with itself by the engine's rules, cannot
make the engine derive without bound. Real processes over tcp loopback."""

import re
import time
import urllib.error
import urllib.request

import policybus

from conftest import wait_for

RULES = "pair(x, y) :- d:t(x), d:t(y)\nseen(x) :- d:t(x)\n"


def peak_rss_mib(node):
    """The process's peak resident memory so far (VmHWM), in MiB."""
    with open(f"/proc/{node.proc.pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024


def monitoring(node, path):
    """``GET path`` on the node's ``--metrics`` address: (status, body)."""
    address = next(m.group(1) for line in node.log if (m := re.search(r" metrics=(\S+)", line)))
    try:
        with urllib.request.urlopen(f"http://{address}{path}", timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def until_rows(sub, table, rows):
    deadline = time.monotonic() + 60
    while sub.rows(table) != rows:
        assert time.monotonic() < deadline, f"{table} never became {rows}: {sub.rows(table)}"
        sub.next_change(1)


def seen_status(engine, sub):
    """k:seen's entry in the engine's status; pumps ``sub`` first, so that
    its lease is renewed and k:seen stays published while the test waits."""
    sub.next_change(0.05)
    with policybus.Client(engine.control, timeout=30) as client:
        return client.status()["tables"].get("k:seen")


def test_a_peer_change_over_the_budget_is_rolled_back_and_the_tables_are_stale_until_it_fits(nodes):
    data = nodes.publish("d", {"t": [[0]]}, schema={"t": ["x"]})
    engine = nodes.serve("e", {"k": RULES}, peers={"d": data},
                         extra=["--peer-max-derived-rows", "200000", "--metrics", "127.0.0.1:*"])
    with policybus.Subscriber(engine.control, timeout=30) as sub:
        sub.subscribe("k:seen")
        until_rows(sub, "k:seen", {(0,)})
        assert seen_status(engine, sub)["stale"] is False
        assert monitoring(engine, "/readyz")[0] == 200

        # 5,000 rows joined with themselves: 25M derivations, over the budget of 200,000.
        with policybus.Client(data.control, timeout=30) as client:
            client.request("facts", table="d:t", action="replace", rows=[[n] for n in range(5000)])
        status = wait_for(lambda: (s := seen_status(engine, sub)) and s.get("stale") and s, timeout=120, what="k:seen stale")
        assert status["stale_inputs"] == ["d:t"]
        assert any("over the peer transaction budget" in line and "error" in line.lower()
                   and "derived rows" in line for line in engine.log), "".join(engine.log)
        # Rolled back whole: the engine's rows are those from before, and it serves.
        with policybus.Client(engine.control, timeout=30) as client:
            assert client.query("k:seen") == {(0,)}
            assert client.query("k:pair") == {(0, 0)}
        ready, body = monitoring(engine, "/readyz")
        assert ready == 503 and "peer transaction budget" in body
        metrics = monitoring(engine, "/metrics")[1]
        assert re.search(r'^policybus_peer_table_refused_total\{table="d:t"\} [1-9]', metrics, re.M), metrics
        # Bounded: 200,000 derived rows at most, never the 25M (several GiB).
        peak = peak_rss_mib(engine)
        print(f"engine peak RSS after the refused replace: {peak:.0f} MiB")
        assert peak < 600

        # A later change that fits brings the peer's rows whole: back in step.
        with policybus.Client(data.control, timeout=30) as client:
            client.request("facts", table="d:t", action="replace", rows=[[n] for n in range(300)])
        wait_for(lambda: seen_status(engine, sub).get("stale") is False, timeout=120, what="k:seen in step again")
        with policybus.Client(engine.control, timeout=30) as client:
            assert client.query("k:seen") == {(n,) for n in range(300)}
            assert client.query("k:pair(7, y)") == {(7, n) for n in range(300)}
        assert any("back within the peer transaction budget" in line for line in engine.log)
        assert monitoring(engine, "/readyz")[0] == 200
        until_rows(sub, "k:seen", {(n,) for n in range(300)})


def test_a_peer_table_over_the_time_budget_is_retried_without_new_data_at_growing_pauses(nodes):
    """Time can run out because the machine is busy: the engine retries a
    table refused for time although its quiet peer sends nothing new, each
    pause twice the last (a refusal for rows or bytes waits for new data)."""
    data = nodes.publish("d", {"t": [[0]]}, schema={"t": ["x"]})
    engine = nodes.serve("e", {"k": RULES}, peers={"d": data},
                         extra=["--peer-max-transaction-ms", "20", "--metrics", "127.0.0.1:*"])
    with policybus.Client(engine.control, timeout=30) as client:
        wait_for(lambda: client.query("k:seen") == {(0,)}, what="k:seen = {(0,)}")
    # 2,000 rows joined with themselves: 4M derivations, seconds, never 20 ms.
    with policybus.Client(data.control, timeout=30) as client:
        client.request("facts", table="d:t", action="replace", rows=[[n] for n in range(2000)])

    def retries():
        return [int(m.group(1)) for line in engine.log
                if "still over the peer transaction budget" in line and (m := re.search(r"retry\.ms=(\d+)", line))]
    pauses = wait_for(lambda: len(r := retries()) >= 2 and r, timeout=120, what="two retries with no new data")
    assert any("over the peer transaction budget" in line and "milliseconds" in line for line in engine.log), "".join(engine.log)
    assert pauses[1] >= 2 * pauses[0] >= 2000, pauses
    metrics = monitoring(engine, "/metrics")[1]
    refused = re.search(r'^policybus_peer_table_refused_total\{table="d:t"\} (\S+)', metrics, re.M)
    assert refused and float(refused.group(1)) >= 3, metrics
    with policybus.Client(engine.control, timeout=30) as client:
        assert client.query("k:seen") == {(0,)}, "rolled back each time: the rows from before"


def test_an_engine_busy_longer_than_its_peers_lease_keeps_its_subscriptions(nodes):
    """The engine renews its leases at its peers in its long transaction's
    pauses: a peer change that takes longer than the lease to apply does
    not make the peer forget the engine (a resync of the whole table)."""
    data = nodes.publish("d", {"t": [[0]]}, schema={"t": ["x"]}, extra=["--lease-ms", "1000"])
    engine = nodes.serve("e", {"k": "pair(x, y) :- d:t(x), d:t(y)\n"}, peers={"d": data})
    with policybus.Client(engine.control, timeout=60) as client:
        wait_for(lambda: client.query("k:pair") == {(0, 0)}, what="k:pair = {(0, 0)}")
        started = time.monotonic()
        with policybus.Client(data.control, timeout=30) as source:
            source.request("facts", table="d:t", action="replace", rows=[[n] for n in range(500)])
        # 250,000 rows derived: seconds in a debug build.
        wait_for(lambda: len(client.query("k:pair(7, y)")) == 500, timeout=300, what="k:pair(7, y) complete")
        took = time.monotonic() - started
    print(f"the peer's change took {took:.1f} s to apply (lease 1 s)")
    assert took > 2, f"the change took {took:.1f} s, too short to outlast the lease: make it bigger"
    assert not any("lease-lost" in line for line in engine.log), "".join(engine.log)
