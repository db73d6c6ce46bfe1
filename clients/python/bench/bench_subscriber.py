#!/usr/bin/env python3
"""How many delta rows per second one Python subscriber receives and applies.

Load: a Python publisher process (``policybus.testing.FakeNode``) that speaks
the data format directly (protocol version 1 frames, ``TABLE {json}``), so
the figure is the client's, not the server's. It pre-builds the frames and
sends them all before the subscriber starts reading (high-water marks off on
both sides, so nothing is dropped); the subscriber then drains and applies
them while the clock runs.

Scenarios: single-row deltas, and batched deltas of 1000 rows. Baselines in
the same run, on the same bytes:
  - memory: ``json.loads`` + set updates (tuples), no socket;
  - raw zmq: a plain SUB ``recv`` loop + ``json.loads`` + set updates.

    python3 clients/python/bench/bench_subscriber.py [--quick]
"""

import argparse
import gc
import json
import multiprocessing
import os
import sys
import time
from collections import deque

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

import zmq  # noqa: E402

import policybus  # noqa: E402
from policybus.testing import FakeNode  # noqa: E402



KEEP = 10_000  # rows a table holds in steady state


def plan(deltas, width):
    """Row ids added and removed by each delta.

    The table fills up to ``KEEP`` rows, then holds steady: a single-row delta
    adds a new row or removes the oldest, in turn; a batched delta removes the
    oldest half-batch and adds a new one. Every delta changes ``width`` rows.
    """
    live = deque()
    next_id = 0
    for i in range(deltas):
        if len(live) < KEEP:
            n_removed = 0
        elif width == 1:
            n_removed = i % 2
        else:
            n_removed = width // 2
        removed = [live.popleft() for _ in range(n_removed)]
        added = list(range(next_id, next_id + width - n_removed))
        next_id += len(added)
        live.extend(added)
        yield added, removed


def final_rows(deltas, width):
    size = 0
    for added, removed in plan(deltas, width):
        size += len(added) - len(removed)
    return size


def make_frames(table, epoch, first_seq, deltas, width):
    """The data frames of ``plan(deltas, width)`` for ``table``."""
    prefix = table.encode() + b" "
    row = lambda j: [f"vm{j}", f"h{j % 97}", j]  # noqa: E731
    frames = []
    for i, (added, removed) in enumerate(plan(deltas, width)):
        body = {"type": "delta", "pub": "bench", "epoch": epoch, "seq": first_seq + i,
                "added": [row(j) for j in added], "removed": [row(j) for j in removed]}
        frames.append(prefix + json.dumps(body, separators=(",", ":")).encode())
    return frames


# MARK: - The publisher process

def publisher(conn):
    node = FakeNode(name="bench", heartbeat_ms=1000, sndhwm=0)
    conn.send(node.control)
    while True:
        cmd = conn.recv()
        if cmd[0] == "stop":
            break
        if cmd[0] == "add":
            node.add_table(cmd[1])
            conn.send("added")
            continue
        _, table, deltas, width = cmd

        def blast(n, table=table, deltas=deltas, width=width):
            t = n.tables.setdefault(table, {"rows": set(), "seq": 0})
            frames = make_frames(table, n.epoch, t["seq"] + 1, deltas, width)
            t["seq"] += deltas
            send = n._pub.send
            for f in frames:
                send(f, copy=False)
            return t["seq"]

        conn.send(node.call(blast))
    node.close()


# MARK: - Measurements

def measure_client(sub, conn, table, deltas, width):
    conn.send(("add", table))
    conn.recv()
    sub.subscribe(table)
    sub.next_change(10)  # the snapshot
    conn.send(("blast", table, deltas, width))
    last_seq = conn.recv()
    rows = 0
    start = time.perf_counter()
    for change in sub:
        rows += len(change.added) + len(change.removed)
        if change.seq >= last_seq:
            break
    elapsed = time.perf_counter() - start
    assert len(sub.rows(table)) == final_rows(deltas, width), "the subscriber lost rows"
    assert sub.resyncs == 0, "a resync happened: the measurement is not clean"
    sub.unsubscribe(table)
    return rows / elapsed, deltas / elapsed


def measure_raw(ctx, data_endpoint, conn, table, deltas, width):
    sock = ctx.socket(zmq.SUB)
    sock.rcvhwm = 0
    sock.setsockopt(zmq.SUBSCRIBE, table.encode() + b" ")
    sock.connect(data_endpoint)
    time.sleep(0.3)  # let the subscription reach the publisher
    conn.send(("blast", table, deltas, width))
    conn.recv()
    rows = set()
    loads = json.loads
    got = changed = 0
    start = time.perf_counter()
    while got < deltas:
        name, _, body = sock.recv().partition(b" ")
        msg = loads(body)
        if msg["type"] != "delta":
            continue
        removed, added = msg["removed"], msg["added"]
        rows.difference_update(map(tuple, removed))
        rows.update(map(tuple, added))
        changed += len(removed) + len(added)
        got += 1
    elapsed = time.perf_counter() - start
    sock.close(linger=0)
    assert len(rows) == final_rows(deltas, width)
    return changed / elapsed, deltas / elapsed


def measure_memory(deltas, width):
    bodies = [f.partition(b" ")[2] for f in make_frames("bench:mem", "e", 1, deltas, width)]
    gc.collect()
    rows = set()
    loads = json.loads
    changed = 0
    start = time.perf_counter()
    for body in bodies:
        msg = loads(body)
        removed, added = msg["removed"], msg["added"]
        rows.difference_update(map(tuple, removed))
        rows.update(map(tuple, added))
        changed += len(removed) + len(added)
    elapsed = time.perf_counter() - start
    return changed / elapsed, deltas / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (a smoke test)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measure; the median is printed")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    scenarios = [("single-row deltas", 100_000 // scale, 1),
                 ("batched deltas (1000 rows)", 300 // scale, 1000)]

    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=publisher, args=(child,), daemon=True)
    proc.start()
    try:
        control = parent.recv()
        print("PolicyBus Python subscriber benchmark (rows applied per second)")
        print("load: a Python PUB speaking the data format directly (policybus.testing.FakeNode),")
        print("      all frames sent before the subscriber reads; the clock covers receive + apply.")
        print(f"python {sys.version.split()[0]}, pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}")
        print()
        print(f"median of {args.repeat} interleaved runs; tables fill to {KEEP:,} rows, then each delta")
        print("adds and removes rows (rows/s counts both); rows are [\"vmN\", \"hM\", N]")
        print(f"{'scenario':<28} {'measure':<36} {'rows/s':>12} {'deltas/s':>12} {'vs memory':>10}")
        with policybus.Subscriber(control, rcvhwm=0) as sub:
            data = sub.hello()["data"]
            zctx = zmq.Context.instance()
            n = 0
            for label, deltas, width in scenarios:
                # Interleaved repetitions, median of each: the machine is shared.
                runs = {"memory": [], "raw": [], "client": []}
                for _ in range(args.repeat):
                    n += 1
                    gc.collect()
                    runs["memory"].append(measure_memory(deltas, width))
                    gc.collect()
                    runs["raw"].append(measure_raw(zctx, data, parent, f"bench:raw{n}", deltas, width))
                    gc.collect()
                    runs["client"].append(measure_client(sub, parent, f"bench:t{n}", deltas, width))
                median = {k: sorted(v)[len(v) // 2] for k, v in runs.items()}
                base = median["memory"][0]
                for key, name in (("memory", "baseline: json.loads + set (memory)"),
                                  ("raw", "baseline: raw SUB recv + loads + set"),
                                  ("client", "policybus.Subscriber")):
                    rows, dps = median[key]
                    print(f"{label:<28} {name:<36} {rows:>12,.0f} {dps:>12,.0f} {rows / base:>9.0%}")
        print()
        print("goals (issue 5): >= 1,000,000 rows/s batched; >= 100,000 single-row deltas/s")
    finally:
        parent.send(("stop",))
        proc.join(10)
        if proc.is_alive():
            proc.kill()


if __name__ == "__main__":
    main()
