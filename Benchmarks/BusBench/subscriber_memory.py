"""The `policybus subscribe` CLI's peak RSS for one large snapshot: a data
source serving a table of N rows (`[vm-NNNNNNN, host-N, N]`, 36 MB of facts
JSON at 1M rows) and one `subscribe --json` (or text, `--text`) at a time,
its peak RSS read once it printed the snapshot: VmHWM in /proc/PID/status,
the kernel's high-water mark, so no sampling can miss it. Not `wait4`'s
ru_maxrss: a child spawned with vfork counts the spawning Python's RSS in it.
With --baseline, another build's `subscribe` runs against the same node,
alternating with --bin's over --rounds, and the two must print the same
bytes. A first subscriber warms the node up, not counted. Real processes
over tcp loopback.

    swift build -c release --product policybus
    PYTHONPATH=clients/python .venv/bin/python3 Benchmarks/BusBench/subscriber_memory.py \
        [--rows 1000000] [--rounds 2] [--text] [--chunk-bytes 262144] \
        [--bin .build/release/policybus] [--baseline OTHER/policybus]
"""

import argparse
import hashlib
import json
import os
import subprocess
import tempfile
import time

# The same directory: its node starter and /proc reader.
from snapshot_fanout import start, status_kib


def subscribe(binary, control, table, text, out_path):
    """One subscriber until it printed the snapshot: its peak RSS (MiB),
    wall time (s), the digest of what it printed and its size."""
    command = [binary, "subscribe", "--connect", control, table, "--timeout", "600"]
    if not text:
        command.append("--json")
    started = time.monotonic()
    with open(out_path, "wb") as out:
        sub = subprocess.Popen(command, stdout=out, stderr=subprocess.DEVNULL)
    # The table does not change, so its snapshot is all it prints.
    while not printed(out_path):
        assert sub.poll() is None, f"{binary} subscribe exited {sub.returncode}"
        time.sleep(0.02)
    elapsed = time.monotonic() - started
    peak = status_kib(sub.pid, "VmHWM") / 1024
    sub.terminate()
    sub.wait()
    digest = hashlib.sha256()
    with open(out_path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return peak, elapsed, digest.hexdigest(), os.path.getsize(out_path)


def printed(path):
    """Whether the snapshot is printed whole: its line's newline is the file's
    last byte (in the text output too, each row's line starts with one)."""
    size = os.path.getsize(path)
    if size == 0:
        return False
    with open(path, "rb") as f:
        f.seek(size - 1)
        return f.read(1) == b"\n"


def write_facts(work, rows):
    """snapshot_fanout.py's table, written a row at a time: the script itself stays small."""
    path = os.path.join(work, "facts.json")
    with open(path, "w") as f:
        f.write('{"q": [')
        for n in range(rows):
            f.write(("" if n == 0 else ", ") + json.dumps([f"vm-{n:07d}", f"host-{n % 1000}", n]))
        f.write("]}")
    return path


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--text", action="store_true", help="the plain text output instead of --json")
    parser.add_argument("--chunk-bytes", type=int, default=262144)
    parser.add_argument("--bin", default=".build/release/policybus")
    parser.add_argument("--baseline", help="another build's policybus, run against the same node")
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    facts = write_facts(work, args.rows)
    node, control = start([args.bin, "publish", "--name", "d", "--control", "tcp://127.0.0.1:*", "--facts", facts,
                           "--snapshot-chunk-bytes", str(args.chunk_bytes), "--lease-ms", "60000",
                           "--max-rows", str(max(args.rows, 100_000))],
                          os.path.join(work, "node.err"))
    builds = [("this build", args.bin)] + ([("baseline", args.baseline)] if args.baseline else [])
    results = {name: [] for name, _ in builds}
    digests = set()
    try:
        # Not counted: the node's first snapshot of a fresh table took twice as long.
        subscribe(args.bin, control, "d:q", args.text, os.path.join(work, "sub.out"))
        for round in range(args.rounds):
            # Alternate which goes first, so load from elsewhere hits both alike.
            for name, binary in (builds if round % 2 == 0 else builds[::-1]):
                peak, elapsed, digest, size = subscribe(binary, control, "d:q", args.text, os.path.join(work, "sub.out"))
                results[name].append((peak, elapsed))
                digests.add(digest)
                print(f"round {round + 1}, {name}: peak RSS {peak:.0f} MiB, {elapsed:.1f} s, {size} bytes printed",
                      flush=True)
    finally:
        node.terminate()
        node.wait()
    print(f"{args.rows} rows of d:q ({os.path.getsize(facts) / 1e6:.0f} MB of facts JSON), "
          f"{'text' if args.text else '--json'}, --snapshot-chunk-bytes {args.chunk_bytes}")
    for name, runs in results.items():
        peaks = [peak for peak, _ in runs]
        times = [elapsed for _, elapsed in runs]
        print(f"{name}: subscriber peak RSS {min(peaks):.0f}-{max(peaks):.0f} MiB, "
              f"snapshot printed after {min(times):.1f}-{max(times):.1f} s")
    if args.baseline:
        ratio = min(p for p, _ in results["baseline"]) / min(p for p, _ in results["this build"])
        print(f"baseline / this build (peak RSS): {ratio:.2f}")
        assert len(digests) == 1, "the two builds printed different output"
        print("both printed the same bytes")


if __name__ == "__main__":
    main()
