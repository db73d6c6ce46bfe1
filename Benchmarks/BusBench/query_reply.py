"""A `query` reply near the reply limit (`--max-reply-bytes`, 1 MiB) against
a real `policybus publish` node over tcp loopback (issue 12): the reply's
size, its round trip, and the node's longest loop turn (`status`
`loop_longest_stall_us`) before and after ten such queries.

    swift build -c release --product policybus
    PYTHONPATH=clients/python .venv/bin/python3 Benchmarks/BusBench/query_reply.py \
        [--bin .build/release/policybus] [--rows 10000,30000]
"""

import argparse
import json
import subprocess
import tempfile
import time

import zmq

CONTROL = "tcp://127.0.0.1:17890"


def request(context, message, timeout_ms=30000):
    socket = context.socket(zmq.DEALER)
    socket.connect(CONTROL)
    try:
        socket.send(json.dumps(dict(message, id=1)).encode())
        if not socket.poll(timeout_ms):
            return None
        frame = socket.recv()
        return dict(json.loads(frame), frame_bytes=len(frame))
    finally:
        socket.close(0)


def measure(binary, rows):
    with tempfile.NamedTemporaryFile("w", suffix=".json") as facts:
        json.dump({"q": [[f"vm-{i:07d}", f"host-{i % 97}", i] for i in range(rows)]}, facts)
        facts.flush()
        node = subprocess.Popen([binary, "publish", "--name", "d", "--control", CONTROL, "--facts", facts.name],
                                stderr=subprocess.DEVNULL)
        context = zmq.Context()
        try:
            deadline = time.time() + 60
            while request(context, {"op": "hello"}, 500) is None:
                if time.time() > deadline:
                    raise SystemExit("the node did not answer")
            request(context, {"op": "query", "query": "q", "limit": 1})  # sorted once
            before = request(context, {"op": "status"})["loop_longest_stall_us"]
            times = []
            for _ in range(10):
                start = time.perf_counter()
                reply = request(context, {"op": "query", "query": "q"})
                times.append(time.perf_counter() - start)
            after = request(context, {"op": "status"})["loop_longest_stall_us"]
            outcome = "ok" if reply.get("ok") else reply["error"]["code"]
            print(f"{rows} rows: {outcome}, {reply['frame_bytes']} bytes; round trip median "
                  f"{sorted(times)[5] * 1000:.1f} ms; longest loop turn {after / 1000:.1f} ms "
                  f"(before the queries, loading included: {before / 1000:.1f} ms)")
        finally:
            node.terminate()
            node.wait()
            context.term()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=".build/release/policybus")
    parser.add_argument("--rows", default="10000,30000")
    args = parser.parse_args()
    for rows in args.rows.split(","):
        measure(args.bin, int(rows))


if __name__ == "__main__":
    main()
