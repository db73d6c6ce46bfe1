"""Large request frames against a real `policybus publish` node (and, for
`simulate`, a `policybus serve` engine) over tcp loopback (issue 12): how
long each holds the node's loop (`status` `loop_longest_stall_us`, one
fresh node per kind of frame; `--only TEXT` runs the kinds whose name has
TEXT), and the node's peak RSS (VmHWM) while one DEALER sends many 10 MB
`facts` requests at once.

    swift build -c release --product policybus
    PYTHONPATH=clients/python .venv/bin/python3 Benchmarks/BusBench/large_requests.py \
        [--bin .build/release/policybus] [--burst 50] [--only TEXT] [--no-stalls] [--no-pipelined] [--no-burst] [-- NODE FLAGS]
"""

import argparse
import json
import os
import re
import subprocess
import tempfile
import time

import zmq

import policybus

MB = 10 << 20


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1))


def start_node(binary, work, flags, engine=False):
    """A data source `data` with `data:q`, or an engine `e` with policy `p`
    (`a(x, y) :- q(x, y)`, `b(x) :- q(x, "none")`) whose `p:q` a simulate
    may fill: asking for `p:b`, whose delta stays empty, keeps the reply small."""
    err = open(os.path.join(work, "node.err"), "w+")
    if engine:
        policy = os.path.join(work, "p.pol")
        with open(policy, "w") as f:
            f.write("q(0, \"x\").\na(x, y) :- q(x, y).\nb(x) :- q(x, \"none\").\n")
        command = [binary, "serve", "--name", "e", "--control", "tcp://127.0.0.1:*", "--no-data-dir", "--policy", f"p={policy}"]
    else:
        facts = os.path.join(work, "facts.json")
        with open(facts, "w") as f:
            json.dump({"q": [[0, "x"]]}, f)
        command = [binary, "publish", "--name", "data", "--control", "tcp://127.0.0.1:*", "--facts", facts]
    node = subprocess.Popen([*command, *flags], stdout=subprocess.DEVNULL, stderr=err)
    control = None
    while control is None:
        time.sleep(0.05)
        found = re.search(r"control=(\S+)", open(err.name).read())
        control = found and found.group(1)
        assert node.poll() is None, "the node exited"
    return node, control


def frames():
    """(name, request, at an engine)"""
    big = "x" * MB
    yield "hello, 10 MB client", {"op": "hello", "id": 1, "client": big}, False
    yield "subscribe, 10 MB client", {"op": "subscribe", "id": 1, "client": big, "tables": ["data:q"]}, False
    yield "query, 10 MB table name", {"op": "query", "id": 1, "client": "c", "query": "data:" + big}, False
    yield "simulate, 200k one-row changes", {
        "op": "simulate", "id": 1, "client": "c", "tables": ["data:q"],
        "changes": [{"op": "facts", "action": "insert", "table": "data:q", "rows": [[n]]} for n in range(200_000)]}, False
    yield "facts, 3M rows [0] (hostile)", {
        "op": "facts", "id": 1, "client": "c", "action": "insert", "table": "data:q", "rows": [[0]] * 3_000_000}, False
    yield "facts, 100k rows [int, string]", {
        "op": "facts", "id": 1, "client": "c", "action": "insert", "table": "data:q",
        "rows": [[n, f"server-{n}"] for n in range(100_000)]}, False
    yield "facts replace, 100k rows [int, string]", {
        "op": "facts", "id": 1, "client": "c", "action": "replace", "table": "data:q",
        "rows": [[n, f"server-{n}"] for n in range(100_000)]}, False
    yield "engine: simulate, 200k one-row changes", {
        "op": "simulate", "id": 1, "client": "c", "tables": ["p:b"],
        "changes": [{"op": "facts", "action": "insert", "table": "p:q", "rows": [[n, "s"]]} for n in range(200_000)]}, True
    yield "engine: simulate, 100k one-row changes", {
        "op": "simulate", "id": 1, "client": "c", "tables": ["p:b"],
        "changes": [{"op": "facts", "action": "insert", "table": "p:q", "rows": [[n, "s"]]} for n in range(100_000)]}, True
    yield "engine: simulate, one change of 100k rows", {
        "op": "simulate", "id": 1, "client": "c", "tables": ["p:b"],
        "changes": [{"op": "facts", "action": "insert", "table": "p:q", "rows": [[n, "s"] for n in range(100_000)]}]}, True


def exchange(dealer, frame, timeout_ms=120_000):
    dealer.send(frame)
    assert dealer.poll(timeout_ms), "no reply"
    return json.loads(dealer.recv())


def stalls(binary, flags, only):
    context = zmq.Context.instance()
    for name, request, engine in frames():
        if only and not any(word in name for word in only):
            continue
        work = tempfile.mkdtemp()
        node, control = start_node(binary, work, flags, engine)
        try:
            with policybus.Client(control, timeout=120) as client:
                before = client.status()["loop_longest_stall_us"]
                dealer = context.socket(zmq.DEALER)
                dealer.connect(control)
                frame = json.dumps(request).encode()
                reply = exchange(dealer, frame)
                outcome = "ok" if reply.get("ok") else reply.get("error", {}).get("code", reply)
                after = client.status()["loop_longest_stall_us"]
                dealer.close(linger=0)
            print(f"stall  {name} ({len(frame) >> 10} KiB): {outcome}; longest loop stall {after / 1000:.1f} ms "
                  f"(before it {before / 1000:.1f} ms)")
        finally:
            node.terminate()
            node.wait()


def burst(binary, flags, count):
    work = tempfile.mkdtemp()
    node, control = start_node(binary, work, flags)
    context = zmq.Context.instance()
    try:
        with policybus.Client(control, timeout=120) as client:
            client.status()
        base = status_kib(node.pid, "VmHWM")
        dealer = context.socket(zmq.DEALER)
        dealer.setsockopt(zmq.SNDHWM, 0)
        dealer.connect(control)
        # About 10 MB each: rows of an int and a 90-byte string, the same rows every time.
        rows = [[n, f"{n:090d}"] for n in range(MB // 106)]
        frame = json.dumps({"op": "facts", "id": 1, "client": "burst", "action": "insert", "table": "data:q", "rows": rows}).encode()
        started = time.monotonic()
        for _ in range(count):
            dealer.send(frame, copy=False)
        codes = {}
        peak = base
        for _ in range(count):
            while not dealer.poll(100):
                peak = max(peak, status_kib(node.pid, "VmHWM"))
            reply = json.loads(dealer.recv())
            code = "ok" if reply.get("ok") else reply["error"]["code"]
            codes[code] = codes.get(code, 0) + 1
        took = time.monotonic() - started
        peak = max(peak, status_kib(node.pid, "VmHWM"))
        with policybus.Client(control, timeout=120) as client:
            stall = client.status()["loop_longest_stall_us"]
        dealer.close(linger=0)
        print(f"burst  {count} x {len(frame) / 1e6:.1f} MB facts from one DEALER: replies {codes} in {took:.1f} s; "
              f"node peak RSS {peak / 1024:.0f} MiB (before {base / 1024:.0f} MiB, +{(peak - base) / 1024:.0f}); "
              f"longest loop stall {stall / 1000:.0f} ms")
    finally:
        node.terminate()
        node.wait()


def pipelined(binary, flags, count=20_000):
    """Small requests pipelined from one DEALER, all sent at once: the
    throughput a low RCVHWM must not cost."""
    work = tempfile.mkdtemp()
    node, control = start_node(binary, work, flags)
    try:
        dealer = zmq.Context.instance().socket(zmq.DEALER)
        dealer.setsockopt(zmq.SNDHWM, 0)
        dealer.connect(control)
        exchange(dealer, b'{"op":"hello","id":0,"client":"p"}')
        started = time.monotonic()
        for n in range(count):
            dealer.send(b'{"op":"renew","id":%d,"client":"p"}' % n)
        codes = {}
        for _ in range(count):
            if not dealer.poll(10_000):
                codes["no reply"] = count - sum(codes.values())
                break
            reply = json.loads(dealer.recv())
            code = "ok" if reply.get("ok") else reply["error"]["code"]
            codes[code] = codes.get(code, 0) + 1
        took = time.monotonic() - started
        dealer.close(linger=0)
        print(f"pipelined  {count} renews from one DEALER: {codes} in {took * 1000:.0f} ms ({count / took:.0f}/s)")
    finally:
        node.terminate()
        node.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/release/policybus")
    parser.add_argument("--burst", type=int, default=50)
    parser.add_argument("--no-stalls", action="store_true")
    parser.add_argument("--only", action="append", default=[], help="only the stall cases whose name has this text")
    parser.add_argument("--no-burst", action="store_true")
    parser.add_argument("--no-pipelined", action="store_true")
    parser.add_argument("flags", nargs="*", help="more flags for the node")
    args = parser.parse_args()
    if not args.no_stalls:
        stalls(args.bin, args.flags, args.only)
    if not args.no_pipelined:
        pipelined(args.bin, args.flags)
    if not args.no_burst:
        burst(args.bin, args.flags, args.burst)


if __name__ == "__main__":
    main()
