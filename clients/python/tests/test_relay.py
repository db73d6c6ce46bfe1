"""The Python client two relays away from a node (docs/PROTOCOL.md section 11):
real ``policybus`` processes, node -> relay -> relay -> ``policybus.Subscriber``.

It must end equal to what ``policybus query`` gives, asked of the node and
through the relays, after every round of random changes; its deltas follow
each other by one seq (no gap applied silently); and when the engine
restarts on a new data port, the relays follow it and the client resyncs to
the new epoch. The engine's snapshots are chunked (``--snapshot-chunk-bytes``),
so the chunks travel through both relays too. The asyncio subscriber, two
relays from a data source, returns from ``subscribe`` with every chunk.
"""

import asyncio
import json
import random
import subprocess
import time

import policybus
import policybus.aio
from conftest import holding, wait_for

POLICY = "big(x, y) :- d:q(x, y), y > 5"


def relay(nodes, name, upstream):
    """``policybus relay`` in front of ``upstream`` (a node or a relay)."""
    return nodes._start([nodes.bin, "relay", "--name", name, "--upstream-control", upstream.control,
                         "--control", "tcp://127.0.0.1:*"], name)


def cli_query(bin_path, endpoint, table):
    """The rows ``policybus query --json`` prints, as a set of tuples."""
    run = subprocess.run([bin_path, "query", "--connect", endpoint, "--timeout", "30", "--json", table],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    return {tuple(row) for row in json.loads(run.stdout)["rows"]}


def random_changes(rng, present, count):
    """``count`` random changes to d:q, kept in ``present`` (the model)."""
    lines = []
    for _ in range(count):
        row = (rng.randrange(50), rng.randrange(20))
        if row in present and rng.random() < 0.5:
            present.discard(row)
            lines.append(f"-q({row[0]}, {row[1]})")
        else:
            present.add(row)
            lines.append(f"+q({row[0]}, {row[1]})")
    return lines


class Recorder:
    """Pumps a blocking subscriber and keeps every change it yields."""

    def __init__(self, sub):
        self.sub = sub
        self.changes = []

    def until(self, table, expected, what, timeout=60.0):
        deadline = time.monotonic() + timeout
        while self.sub.rows(table) != expected:
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.changes.extend(self.sub.changes(timeout=0.2))

    def seq_breaks(self, table):
        """Deltas that do not follow the change before them by one seq."""
        breaks, last = [], None
        for change in self.changes:
            if change.table != table:
                continue
            if change.kind == "delta" and last is not None and change.seq != last + 1:
                breaks.append((last, change.seq))
            last = change.seq
        return breaks


def test_a_subscriber_two_relays_away_converges_to_query_and_follows_a_restart(nodes):
    seed = random.randrange(2**63)
    print(f"test_relay seed {seed}")
    rng = random.Random(seed)
    source = nodes.publish("d", {"q": []})
    engine = nodes.serve("engine", {"k": POLICY}, peers={"d": source}, data_dir=False,
                         extra=["--snapshot-chunk-bytes", "1024"])
    first = relay(nodes, "relay-1", engine)
    second = relay(nodes, "relay-2", first)

    present = set()
    source.feed(*random_changes(rng, present, 1000))  # a table of several chunks before anyone subscribes
    expected = {r for r in present if r[1] > 5}
    wait_for(lambda: cli_query(nodes.bin, engine.control, "k:big") == expected, 60, f"k:big at the engine (seed {seed})")

    with policybus.Subscriber(second.control, timeout=30) as sub:
        # Clients are sent to the nearest relay's data endpoint, not the node's.
        assert sub.hello()["data"] == second.data
        sub.subscribe("k:big", timeout=60)
        assert sub.rows("k:big") == expected, f"the chunked snapshot through two relays (seed {seed})"
        with policybus.Client(engine.control) as node:
            assert node.status()["counters"].get("snapshot_chunks", 0) >= 2, "the snapshot was not chunked"
        rec = Recorder(sub)
        for round_ in range(4):
            source.feed(*random_changes(rng, present, 100))
            expected = {r for r in present if r[1] > 5}
            wait_for(lambda: cli_query(nodes.bin, engine.control, "k:big") == expected, 60,
                     f"k:big at the engine after round {round_} (seed {seed})")
            assert cli_query(nodes.bin, second.control, "k:big") == expected, f"query through two relays (seed {seed})"
            rec.until("k:big", expected, f"the subscriber after round {round_} (seed {seed})")
        assert rec.seq_breaks("k:big") == [], f"seed {seed}"
        resyncs = sub.resyncs

        # The engine restarts with a new epoch on a new data port (the old
        # one held meanwhile): the relays follow it, the client resyncs.
        engine.stop()
        with holding(engine.data):
            restarted = nodes.restart(engine)
        assert restarted.data != engine.data
        wait_for(lambda: cli_query(nodes.bin, restarted.control, "k:big") == expected, 60,
                 f"k:big at the restarted engine (seed {seed})")
        wait_for(lambda: rec.changes.extend(sub.changes(timeout=0.2)) or sub.resyncs > resyncs, 60,
                 f"a resync after the engine's restart (seed {seed})")
        source.feed(*random_changes(rng, present, 100))
        expected = {r for r in present if r[1] > 5}
        wait_for(lambda: cli_query(nodes.bin, restarted.control, "k:big") == expected, 60,
                 f"k:big at the restarted engine after more changes (seed {seed})")
        rec.until("k:big", expected, f"the subscriber after the restart (seed {seed})")
        assert cli_query(nodes.bin, second.control, "k:big") == expected
        assert rec.seq_breaks("k:big") == [], f"seed {seed}"
        assert sub.hello()["data"] == second.data
    assert any(f"upstream data endpoint endpoint={restarted.data}" in line for line in first.log), "".join(first.log)


def test_the_asyncio_subscriber_two_relays_away_returns_with_the_whole_chunked_snapshot(nodes):
    rows = [[n, n % 20] for n in range(2000)]
    source = nodes.publish("d", {"q": rows}, extra=["--snapshot-chunk-bytes", "1024"])
    second = relay(nodes, "relay-2", relay(nodes, "relay-1", source))
    expected = {tuple(r) for r in rows}

    async def follow():
        async with policybus.aio.Subscriber(second.control, timeout=30) as sub:
            await sub.subscribe("d:q", timeout=60)
            assert sub.rows("d:q") == expected  # every chunk, through both relays
            await sub.wait_synced(30, live=True)
            source.feed("+q(5000, 1)")
            async for change in sub:
                if change.kind == "delta":
                    return change

    change = asyncio.run(asyncio.wait_for(follow(), 90))
    assert change.added == [(5000, 1)]
    with policybus.Client(source.control) as node:
        assert node.status()["counters"].get("snapshot_chunks", 0) >= 2, "the snapshot was not chunked"
