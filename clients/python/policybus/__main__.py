"""``python -m policybus subscribe ENDPOINT TABLE...`` prints the changes.

Also ``query ENDPOINT QUERY`` and ``status ENDPOINT``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Optional, Sequence

from .client import Client, Subscriber
from .errors import PolicyBusError
from .protocol import Change, Row


def _row(row: Row) -> str:
    return "(" + ", ".join(json.dumps(v) for v in row) + ")"


def format_change(change: Change) -> str:
    """A change as readable lines: a header, then one line per row."""
    if change.kind == "delta":
        head = f"{change.table} delta seq={change.seq} +{len(change.added)} -{len(change.removed)}"
    else:
        head = (f"{change.table} {change.kind} seq={change.seq} rows={len(change.rows or ())}"
                + (f" +{len(change.added)} -{len(change.removed)}" if change.kind == "resync" else ""))
    lines = [head]
    lines += ["  + " + _row(r) for r in sorted(change.added, key=repr)]
    lines += ["  - " + _row(r) for r in sorted(change.removed, key=repr)]
    return "\n".join(lines)


def change_json(change: Change) -> str:
    """A change as the JSON object ``policybus subscribe --json`` prints: a
    resync prints a fresh snapshot line, as the Swift CLI does."""
    if change.kind == "delta":
        obj: dict[str, Any] = {"table": change.table, "kind": "delta", "seq": change.seq,
               "added": [list(r) for r in change.added],
               "removed": [list(r) for r in change.removed]}
    else:
        obj = {"table": change.table, "kind": "snapshot", "seq": change.seq,
               "rows": sorted((list(r) for r in change.rows or ()), key=repr)}
    return json.dumps(obj)


def _keys(args: argparse.Namespace) -> dict[str, Any]:
    """CURVE keyword arguments from --server-key and --client-key PREFIX."""
    if not args.server_key:
        return {}
    keys = {"server_key": args.server_key}
    if args.client_key:
        keys.update(public_key=args.client_key + ".pub", secret_key=args.client_key + ".key")
    return keys


def _subscribe(args: argparse.Namespace) -> int:
    with Subscriber(args.endpoint, timeout=args.request_timeout, **_keys(args)) as sub:
        sub.subscribe(*args.tables)
        printed = 0
        for change in sub.changes(args.timeout):
            if change.kind == "resync":
                print(f"{change.table}: resync", file=sys.stderr, flush=True)
            print(args.prefix + (change_json(change) if args.json else
                                 format_change(change).replace("\n", "\n" + args.prefix)),
                  flush=True)
            printed += 1
            if args.count is not None and printed >= args.count:
                break
    return 0


def _query(args: argparse.Namespace) -> int:
    with Client(args.endpoint, timeout=args.request_timeout, **_keys(args)) as node:
        for row in sorted(node.query(args.query, args.offset, args.limit), key=repr):
            print(json.dumps(list(row)) if args.json else _row(row))
    return 0


def _status(args: argparse.Namespace) -> int:
    with Client(args.endpoint, timeout=args.request_timeout, **_keys(args)) as node:
        print(json.dumps(node.status(args.offset, args.limit), indent=None if args.json else 2, sort_keys=True))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policybus")
    parser.add_argument("--request-timeout", type=float, default=5.0,
                        help="seconds to wait for a control reply")
    parser.add_argument("--server-key", help="the node's CURVE public key file (NAME.pub); turns CURVE on")
    parser.add_argument("--client-key", metavar="PREFIX",
                        help="this client's key pair PREFIX.key and PREFIX.pub (default: a fresh pair)")
    cmds = parser.add_subparsers(dest="command", required=True)
    sub = cmds.add_parser("subscribe", help="print the snapshot, then every change")
    sub.add_argument("endpoint", help="the node's control endpoint, e.g. tcp://127.0.0.1:5555")
    sub.add_argument("tables", nargs="+", help="fully qualified tables, e.g. alice:error")
    sub.add_argument("--json", action="store_true", help="one JSON object per line")
    sub.add_argument("--count", type=int, help="exit after N changes")
    sub.add_argument("--timeout", type=float, help="exit after SECONDS")
    sub.add_argument("--prefix", default="", help="text put before every line")
    sub.set_defaults(run=_subscribe)
    q = cmds.add_parser("query", help="print the rows matching a query")
    q.add_argument("endpoint")
    q.add_argument("query")
    q.add_argument("--json", action="store_true")
    q.set_defaults(run=_query)
    st = cmds.add_parser("status", help="print the node's status")
    st.add_argument("endpoint")
    st.add_argument("--json", action="store_true")
    st.set_defaults(run=_status)
    for paged in (q, st):
        paged.add_argument("--offset", type=int, default=0, help="skip this many rows (clients for status)")
        paged.add_argument("--limit", type=int, help="at most this many (default: all rows; 100 clients)")
    args = parser.parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except PolicyBusError as err:
        print(f"error: {err.code}: {err.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
