"""One long engine transaction against a subscriber of another table: how
long the engine's loop was held (status `loop_longest_stall_us`) and the
longest gap between the data messages (heartbeats) the subscriber heard
while the transaction ran. Real processes over tcp loopback.

The change is a rule over a 3-way cross product of `--rows` rows (refused
`too-expensive` at the derived-rows budget), or with `--counter`
`cnt(y) :- cnt(x), y = x + 1` (refused at `--max-transaction-ms`).

    swift build --product policybus
    PYTHONPATH=clients/python .venv/bin/python3 Benchmarks/BusBench/long_transaction.py \
        [--rows 1000] [--max-derived-rows 1000000] [--counter] [--heartbeat-ms 100] [--loop-budget-ms 50] [--bin .build/debug/policybus]
"""

import argparse
import json
import os
import re
import subprocess
import tempfile
import threading
import time

import zmq

import policybus


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--counter", action="store_true")
    parser.add_argument("--heartbeat-ms", type=int, default=100)
    parser.add_argument("--max-transaction-ms", type=int, default=10000)
    parser.add_argument("--max-derived-rows", type=int, default=1000000)
    parser.add_argument("--loop-budget-ms", type=int, default=50, help="100000: no pauses, as before them")
    parser.add_argument("--bin", default=".build/debug/policybus")
    args = parser.parse_args()
    work = tempfile.mkdtemp()
    policy = os.path.join(work, "p.pol")
    with open(policy, "w") as f:
        f.write("a(x) :- seen(x)\n")
    err = open(os.path.join(work, "engine.err"), "w")
    node = subprocess.Popen([args.bin, "serve", "--name", "e", "--control", "tcp://127.0.0.1:*", "--no-data-dir",
                             "--policy", f"p={policy}", "--heartbeat-ms", str(args.heartbeat_ms),
                             "--max-transaction-ms", str(args.max_transaction_ms),
                             "--max-derived-rows", str(args.max_derived_rows),
                             "--loop-budget-ms", str(args.loop_budget_ms)],
                            stdout=subprocess.DEVNULL, stderr=err)
    control = None
    while control is None:
        time.sleep(0.1)
        found = re.search(r"control=(\S+)", open(err.name).read())
        control = found and found.group(1)
        assert node.poll() is None, "the engine exited"
    try:
        with policybus.Client(control, timeout=120) as client:
            client.insert_facts("p:seen", [["x"]])
            client.insert_facts("p:n", [[n] for n in range(args.rows)])
            hello = client.hello()
        context = zmq.Context()
        dealer = context.socket(zmq.DEALER)
        dealer.connect(control)
        dealer.send(json.dumps({"op": "subscribe", "id": 1, "client": "listener", "tables": ["p:a"]}).encode())
        assert json.loads(dealer.recv())["ok"]
        sub = context.socket(zmq.SUB)
        sub.setsockopt(zmq.SUBSCRIBE, b"p:a ")
        sub.connect(hello["data"])
        heard = []
        stop = threading.Event()

        def listen():
            poller = zmq.Poller()
            poller.register(sub, zmq.POLLIN)
            while not stop.is_set():
                if poller.poll(50):
                    sub.recv()
                    heard.append(time.monotonic())

        listener = threading.Thread(target=listen)
        listener.start()
        time.sleep(3 * args.heartbeat_ms / 1000)
        rule = "cnt(y) :- cnt(x), y = x + 1" if args.counter else "cross(x, y, z) :- n(x), n(y), n(z)"
        with policybus.Client(control, timeout=120) as client:
            if args.counter:
                client.insert_facts("p:cnt", [[0]])
            started = time.monotonic()
            try:
                client.insert_rule("p", rule)
                outcome = "ok"
            except policybus.PolicyBusError as error:
                outcome = error.code
            ended = time.monotonic()
            status = client.status()
        time.sleep(3 * args.heartbeat_ms / 1000)
        stop.set()
        listener.join()
        during = [t for t in heard if started <= t <= ended]
        marks = [started] + during + [ended]
        gap = max(b - a for a, b in zip(marks, marks[1:]))
        print(f"rule {rule!r}: {outcome} after {ended - started:.2f} s")
        print(f"engine loop_longest_stall_us: {status['loop_longest_stall_us']} "
              f"({status['loop_longest_stall_us'] / 1000:.1f} ms)")
        print(f"subscriber of p:a: {len(during)} messages during the transaction, longest gap {gap * 1000:.0f} ms "
              f"(heartbeat {args.heartbeat_ms} ms, silence limit {3 * args.heartbeat_ms} ms)")
    finally:
        node.terminate()
        node.wait()


if __name__ == "__main__":
    main()
