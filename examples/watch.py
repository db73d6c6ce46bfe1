#!/usr/bin/env python3
"""Watches policy tables on several PolicyBus nodes and prints every change.

    python3 examples/watch.py [--prefix TEXT] ENDPOINT=TABLE[,TABLE...] ...

e.g. ``tcp://127.0.0.1:17200=compliance:error tcp://127.0.0.1:17300=alerts:alert``.
One thread per node, each with its own ``policybus.Subscriber`` (a subscriber,
like a ZeroMQ socket, belongs to one thread). It waits for nodes that are not
up yet, and stops cleanly on SIGINT or SIGTERM.
"""

import argparse
import json
import os
import signal
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
import policybus  # noqa: E402  (after the path tweak, so a fresh clone works)

_print_lock = threading.Lock()


def show(prefix, change):
    """One line per change, then one line per row added (+) or removed (-)."""
    row = lambda r: "(" + ", ".join(json.dumps(v) for v in r) + ")"  # noqa: E731
    if change.kind == "delta":
        head = f"{change.table}: delta seq={change.seq}"
    else:
        head = f"{change.table}: {change.kind} seq={change.seq}, {len(change.rows)} rows"
    lines = [head] + [f"    + {row(r)}" for r in sorted(change.added, key=repr)]
    lines += [f"    - {row(r)}" for r in sorted(change.removed, key=repr)]
    text = "".join(prefix + line + "\n" for line in lines)
    with _print_lock:
        # One write per change keeps its lines together, even when another
        # process writes to the same terminal or pipe.
        sys.stdout.write(text)
        sys.stdout.flush()


def follow(endpoint, tables, prefix, stop):
    """Subscribes (retrying until the node answers) and prints until ``stop``."""
    while not stop.is_set():
        try:
            with policybus.Subscriber(endpoint, timeout=2.0) as sub:
                sub.subscribe(*tables)
                for change in sub.changes(timeout=0.5):
                    show(prefix, change)
                while not stop.is_set():
                    for change in sub.changes(timeout=0.5):
                        show(prefix, change)
                return
        except policybus.PolicyBusTimeout:
            stop.wait(1.0)  # the node is not up yet
        except policybus.PolicyBusError as err:
            with _print_lock:
                print(f"{prefix}{endpoint}: {err.code}: {err.message}", file=sys.stderr, flush=True)
            stop.wait(2.0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prefix", default="", help="text before every line, e.g. '[python] '")
    parser.add_argument("targets", nargs="+", metavar="ENDPOINT=TABLE[,TABLE...]")
    args = parser.parse_args()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    threads = []
    for target in args.targets:
        endpoint, sep, tables = target.partition("=")
        if not sep or not tables:
            parser.error(f"expected ENDPOINT=TABLE[,TABLE...], got {target!r}")
        t = threading.Thread(target=follow, args=(endpoint, tables.split(","), args.prefix, stop))
        t.start()
        threads.append(t)
    while any(t.is_alive() for t in threads):
        stop.wait(0.2)
        if stop.is_set():
            break
    for t in threads:
        t.join(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
