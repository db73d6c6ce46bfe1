"""A data source's client replaces a table with `--rows` rows that an
engine's rule joins with itself (`pair(x, y) :- d:t(x), d:t(y)`: rows²
derived rows): how long until the engine has applied or refused it, its
peak memory (VmHWM) and its longest loop stall. Real processes over tcp
loopback. With the peer transaction budget (`--peer-max-derived-rows`,
10M by default) the change is refused and the engine's tables are stale;
without one (a binary from before it) the engine derives every row.

    PYTHONPATH=clients/python .venv/bin/python3 Benchmarks/BusBench/peer_explosion.py \\
        [--rows 5000] [--bin .build/release/policybus] [--extra "--peer-max-derived-rows 1000000"]
"""

import argparse
import json
import os
import re
import subprocess
import tempfile
import threading
import time

import policybus


def start(argv, log):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def drain():
        for line in proc.stderr:
            log.append(line)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = [m.group(1) for line in list(log) if (m := re.search(r"control=(\S+)", line))]
        if found:
            return proc, found[0]
        time.sleep(0.05)
    raise SystemExit("the node did not start:\n" + "".join(log))


def peak_mib(proc):
    with open(f"/proc/{proc.pid}/status") as f:
        return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--bin", default=".build/release/policybus")
    parser.add_argument("--extra", default="", help="more serve flags for the engine")
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    with open(os.path.join(work, "t.json"), "w") as f:
        json.dump({"t": [[0]]}, f)
    with open(os.path.join(work, "k.pol"), "w") as f:
        f.write("pair(x, y) :- d:t(x), d:t(y)\n")
    data_log, engine_log = [], []
    data, data_control = start([args.bin, "publish", "--name", "d", "--control", "tcp://127.0.0.1:*",
                                "--facts", os.path.join(work, "t.json")], data_log)
    engine, control = start([args.bin, "serve", "--name", "e", "--control", "tcp://127.0.0.1:*", "--no-data-dir",
                             "--policy", f"k={work}/k.pol", "--peer", f"d={data_control}", *args.extra.split()],
                            engine_log)
    try:
        with policybus.Client(control, timeout=60) as client:
            while client.query("k:pair") != {(0, 0)}:
                time.sleep(0.1)
        before = peak_mib(engine)
        started = time.monotonic()
        with policybus.Client(data_control, timeout=60) as client:
            client.request("facts", table="d:t", action="replace", rows=[[n] for n in range(args.rows)])
        outcome = None
        with policybus.Client(control, timeout=600) as client:
            while outcome is None:
                if any("over the peer transaction budget" in line for line in engine_log):
                    outcome = "refused (over the peer transaction budget), tables stale"
                elif len(client.query("k:pair(7, y)")) == args.rows:
                    outcome = f"applied: {args.rows ** 2:,} rows derived"
                else:
                    time.sleep(0.1)
            took = time.monotonic() - started
            stall = client.status().get("loop_longest_stall_us", 0) / 1000
        print(f"replace of {args.rows:,} rows into d:t, self-joined: {outcome} after {took:.1f} s")
        print(f"engine peak RSS {peak_mib(engine):.0f} MiB (before the replace: {before:.0f} MiB); "
              f"longest loop stall {stall:.0f} ms")
    finally:
        for proc in (engine, data):
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
