"""A 1M-row table snapshotted to N `policybus subscribe` processes at once:
the serving node's peak and current RSS, each subscriber's peak RSS, the
time until every subscriber printed its snapshot, and the node's longest
loop stall (status). Real processes over tcp loopback. With --derived the
table is an engine's derived table, `p:copy`, a copy of the data source's
`d:q` that the engine reads over the bus, and the engine is the node measured.

    swift build -c release --product policybus
    PYTHONPATH=clients/python .venv/bin/python3 Benchmarks/BusBench/snapshot_fanout.py \
        [--rows 1000000] [--subscribers 10] [--chunk-bytes 262144] [--derived] [--bin .build/release/policybus]
"""

import argparse
import json
import os
import re
import subprocess
import tempfile
import time

import policybus


def status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(rf"^{field}:\s+(\d+) kB", f.read(), re.M).group(1))


def start(command, err_path):
    """Starts a node; returns it and the control endpoint it announced."""
    node = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=open(err_path, "w"))
    while True:
        time.sleep(0.1)
        found = re.search(r"control=(\S+)", open(err_path).read())
        if found:
            return node, found.group(1)
        assert node.poll() is None, f"the node exited: {open(err_path).read()}"


def start_engine(args, work, source_control):
    """An engine deriving p:copy from d:q, once it has d:q's snapshot."""
    policy = os.path.join(work, "p.policy")
    with open(policy, "w") as f:
        f.write("copy(vm, host, n) :- d:q(vm, host, n)\n")
    node, control = start([args.bin, "serve", "--name", "e", "--control", "tcp://127.0.0.1:*", "--no-data-dir",
                           "--policy", f"p={policy}", "--peer", f"d={source_control}",
                           "--snapshot-chunk-bytes", str(args.chunk_bytes), "--lease-ms", "60000",
                           "--max-derived-rows", str(2 * args.rows), "--max-transaction-ms", "600000"],
                          os.path.join(work, "engine.err"))
    with policybus.Client(control, timeout=600) as client:
        while not client.status().get("remote", {}).get("d:q", {}).get("synced"):
            time.sleep(0.5)
    return node, control


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--chunk-bytes", type=int, default=262144)
    parser.add_argument("--bin", default=".build/release/policybus")
    parser.add_argument("--derived", action="store_true", help="snapshot an engine's derived copy of the table")
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    facts = os.path.join(work, "facts.json")
    with open(facts, "w") as f:
        json.dump({"q": [[f"vm-{n:07d}", f"host-{n % 1000}", n] for n in range(args.rows)]}, f)
    source, control = start([args.bin, "publish", "--name", "d", "--control", "tcp://127.0.0.1:*", "--facts", facts,
                             "--snapshot-chunk-bytes", str(args.chunk_bytes), "--lease-ms", "60000",
                             "--max-rows", str(max(args.rows, 100_000))],
                            os.path.join(work, "node.err"))
    node, table = source, "d:q"
    if args.derived:
        node, control = start_engine(args, work, control)
        table = "p:copy"
    with policybus.Client(control, timeout=120) as client:
        client.status()
        before = client.status()
    node_base = status_kib(node.pid, "VmRSS")
    node_hwm_base = status_kib(node.pid, "VmHWM")
    outs = [open(os.path.join(work, f"sub{i}.out"), "w+") for i in range(args.subscribers)]
    started = time.monotonic()
    subs = [subprocess.Popen([args.bin, "subscribe", "--connect", control, table, "--json", "--timeout", "600"],
                             stdout=out, stderr=subprocess.DEVNULL) for out in outs]
    sub_hwm = [0] * len(subs)
    done = [None] * len(subs)
    while None in done:
        for i, (sub, out) in enumerate(zip(subs, outs)):
            try:
                sub_hwm[i] = max(sub_hwm[i], status_kib(sub.pid, "VmHWM"))
            except (FileNotFoundError, AttributeError):
                pass
            if done[i] is None and os.path.getsize(out.name) > 0:
                with open(out.name) as f:
                    if f.readline().endswith("\n"):
                        done[i] = time.monotonic() - started
        time.sleep(0.05)
    for i, sub in enumerate(subs):
        sub_hwm[i] = max(sub_hwm[i], status_kib(sub.pid, "VmHWM"))
    with policybus.Client(control, timeout=120) as client:
        after = client.status()
    node_hwm = status_kib(node.pid, "VmHWM")
    node_rss = status_kib(node.pid, "VmRSS")
    first = json.loads(open(outs[0].name).readline())
    assert len(first["rows"]) == args.rows, len(first["rows"])
    for sub in subs:
        sub.terminate()
        sub.wait()
    for process in {node, source}:
        process.terminate()
        process.wait()
    mib = lambda kib: f"{kib / 1024:.0f} MiB"
    print(f"{args.rows} rows of {table} to {args.subscribers} subscribers, --snapshot-chunk-bytes {args.chunk_bytes}")
    print(f"node RSS after loading: {mib(node_base)} (peak {mib(node_hwm_base)}); "
          f"peak during the snapshots: {mib(node_hwm)} (+{mib(node_hwm - node_hwm_base)}); after: {mib(node_rss)}")
    print(f"subscriber peak RSS: max {mib(max(sub_hwm))}, min {mib(min(sub_hwm))}")
    print(f"every subscriber has its snapshot after {max(done):.1f} s (first {min(done):.1f} s)")
    print(f"node's longest loop stall: {after['loop_longest_stall_us'] / 1000:.0f} ms "
          f"(before the subscribers: {before['loop_longest_stall_us'] / 1000:.0f} ms); "
          f"chunks sent: {after['counters'].get('snapshot_chunks', 0)}")


if __name__ == "__main__":
    main()
