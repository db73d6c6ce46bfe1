"""A small in-process PolicyBus node that speaks protocol version 1, for
tests and benchmarks of the client without the Swift binary.

It serves tables you fill from the test, and can misbehave on purpose: lose
a delta, go silent, restart with a new epoch, send raw frames.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
import uuid
from typing import Any, Callable, Iterable, Optional, TypeVar

import zmq

T = TypeVar("T")
#: A row as tests give it.
RowLike = Iterable[Any]


class FakeNode:
    """A data-source-like node on loopback, run by a background thread.

    All socket work happens on that thread; the methods below hand it
    closures and wait for them.
    """

    def __init__(self, name: str = "fake", heartbeat_ms: int = 1000, lease_ms: int = 10000,
                 advertise_host: Optional[str] = None, heartbeats: bool = True,
                 sndhwm: Optional[int] = None, curve_secret_key: Optional[bytes] = None) -> None:
        self.name = name
        self.heartbeat_ms = heartbeat_ms
        self.lease_ms = lease_ms
        self.heartbeats = heartbeats
        self.epoch = uuid.uuid4().hex[:12]
        self.tables: dict[str, dict[str, Any]] = {}  # name -> {"rows": set, "seq": int}
        self.requests: list[dict[str, Any]] = []     # every request object received, in order
        self.subscribers: dict[str, set[Any]] = {}  # table -> set of client ids
        # Called (in the node thread) before a snapshot is taken.
        self.snapshot_hook: Optional[Callable[[FakeNode, dict[str, Any]], None]] = None
        self._advertise_host = advertise_host
        self._sndhwm = sndhwm
        self._curve_secret_key = curve_secret_key  # Z85 bytes: both sockets become CURVE servers
        self._calls: queue.Queue[Callable[[], None]] = queue.Queue()
        # A plain socket pair wakes the node thread; any thread may write it.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._ready = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"FakeNode-{name}", daemon=True)
        self._thread.start()
        self._ready.wait(5)

    # MARK: - Driving it from the test

    def call(self, fn: Callable[[FakeNode], T]) -> T:
        """Runs ``fn(node)`` on the node thread; returns its result."""
        done = threading.Event()
        box: dict[str, Any] = {}

        def run() -> None:
            try:
                box["value"] = fn(self)
            except BaseException as err:  # handed back to the caller
                box["error"] = err
            done.set()

        self._calls.put(run)
        self._wake_send()
        if not done.wait(10):
            raise TimeoutError("FakeNode did not run the call")
        if "error" in box:
            raise box["error"]
        value: T = box["value"]
        return value

    def add_table(self, table: str, rows: Iterable[RowLike] = ()) -> None:
        self.call(lambda n: n.tables.setdefault(table, {"rows": set(map(tuple, rows)), "seq": 0}))

    def publish(self, table: str, added: Iterable[RowLike] = (), removed: Iterable[RowLike] = (),
                lose: bool = False) -> int:
        """Applies a delta and publishes it (or only bumps seq if ``lose``)."""
        def run(n: FakeNode) -> int:
            t = n.tables.setdefault(table, {"rows": set(), "seq": 0})
            t["rows"].difference_update(map(tuple, removed))
            t["rows"].update(map(tuple, added))
            t["seq"] += 1
            if not lose:
                n._send(table, {"type": "delta", "pub": n.name, "epoch": n.epoch, "seq": t["seq"],
                                "added": [list(r) for r in added],
                                "removed": [list(r) for r in removed]})
            seq: int = t["seq"]
            return seq
        return self.call(run)

    def heartbeat(self) -> None:
        self.call(lambda n: n._send_heartbeats())

    def send_raw(self, frame: bytes) -> None:
        self.call(lambda n: n._pub.send(frame))

    def send_frames(self, frames: Iterable[bytes]) -> None:
        """Sends prepared data frames as fast as possible (benchmarks)."""
        def run(n: FakeNode) -> None:
            send = n._pub.send
            for f in frames:
                send(f, copy=False)
        self.call(run)

    def restart(self, keep_rows: bool = True) -> None:
        """Acts like a restarted publisher: a new epoch, sequence numbers from 0,
        no subscribers remembered."""
        def run(n: FakeNode) -> None:
            n.epoch = uuid.uuid4().hex[:12]
            n.subscribers.clear()
            for t in n.tables.values():
                t["seq"] = 0
                if not keep_rows:
                    t["rows"] = set()
        self.call(run)

    def move_data(self) -> str:
        """Acts like a publisher restarted on a new data port (a new epoch,
        as ``restart``); the old port is closed. Returns the new endpoint."""
        def run(n: FakeNode) -> str:
            old = n._pub
            n._pub = n._socket(zmq.PUB)
            n._bind_data()
            old.close(linger=0)
            return n.data
        data = self.call(run)
        self.restart()
        return data

    def close(self) -> None:
        self._stop = True
        self._wake_send()
        self._thread.join(5)

    def __enter__(self) -> FakeNode:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # MARK: - The node thread

    def _wake_send(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # already closed: the node has stopped

    def _run(self) -> None:
        self._router = self._socket(zmq.ROUTER)
        self._pub = self._socket(zmq.PUB)
        self._router.bind("tcp://127.0.0.1:*")
        self.control = _last_endpoint(self._router)
        self._bind_data()
        self._ready.set()
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        next_hb = time.monotonic() + self.heartbeat_ms / 1000
        while not self._stop:
            timeout = max(0, next_hb - time.monotonic())
            ready = dict(poller.poll(int(timeout * 1000)))
            if self._wake_r.fileno() in ready:
                try:
                    self._wake_r.recv(4096)
                except BlockingIOError:
                    pass
            while not self._calls.empty():
                self._calls.get()()
            if self._router in ready:
                while self._router.poll(0):
                    self._serve(self._router.recv_multipart())
            if time.monotonic() >= next_hb:
                if self.heartbeats:
                    self._send_heartbeats()
                next_hb = time.monotonic() + self.heartbeat_ms / 1000
        self._router.close(linger=0)
        self._pub.close(linger=0)
        self._wake_r.close()
        self._wake_w.close()

    def _socket(self, kind: int) -> zmq.Socket[bytes]:
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
        sock = ctx.socket(kind)
        sock.linger = 0
        if self._curve_secret_key:
            sock.curve_server = True
            sock.curve_secretkey = self._curve_secret_key
        if kind == zmq.PUB and self._sndhwm is not None:
            sock.sndhwm = self._sndhwm
        return sock

    def _bind_data(self) -> None:
        """Binds the PUB on a free port; ``advertised_data`` is what replies say."""
        self._pub.bind("tcp://127.0.0.1:*")
        self.data = _last_endpoint(self._pub)
        self.advertised_data = self.data
        if self._advertise_host:
            self.advertised_data = f"tcp://{self._advertise_host}:{self.data.rsplit(':', 1)[1]}"

    def _send(self, table: str, obj: dict[str, Any]) -> None:
        self._pub.send(table.encode() + b" " + json.dumps(obj).encode())

    def _send_heartbeats(self) -> None:
        for table, t in self.tables.items():
            self._send(table, {"type": "hb", "pub": self.name, "epoch": self.epoch, "seq": t["seq"]})

    def _serve(self, frames: list[bytes]) -> None:
        envelope, body = frames[:-1], frames[-1]
        try:
            req = json.loads(body)
        except ValueError:
            return self._reply(envelope, None, error=("bad-json", "not JSON"))
        self.requests.append(req)
        rid = req.get("id")
        op = req.get("op")
        timers: dict[str, Any] = {"data": self.advertised_data, "epoch": self.epoch,
                  "heartbeat_ms": self.heartbeat_ms, "lease_ms": self.lease_ms}
        if op == "hello":
            return self._reply(envelope, rid, name=self.name, kind="datasource", version=1, **timers)
        if op == "subscribe":
            out: dict[str, Any] = {}
            for table in req.get("tables", []):
                if table not in self.tables:
                    return self._reply(envelope, rid, error=("unknown-table", f"no table {table}"))
            if self.snapshot_hook:
                self.snapshot_hook(self, req)
            for table in req.get("tables", []):
                t = self.tables[table]
                self.subscribers.setdefault(table, set()).add(req.get("client"))
                out[table] = {"seq": t["seq"], "columns": None,
                              "rows": sorted((list(r) for r in t["rows"]), key=repr)}
            return self._reply(envelope, rid, tables=out, **timers)
        if op == "unsubscribe":
            for table in req.get("tables", []):
                self.subscribers.get(table, set()).discard(req.get("client"))
            return self._reply(envelope, rid)
        if op == "renew":
            return self._reply(envelope, rid)
        if op == "query":
            found = self.tables.get(req.get("query"))
            if found is None:
                return self._reply(envelope, rid, error=("unknown-table", "no such table"))
            rows, more = _page(sorted((list(r) for r in found["rows"]), key=repr), req)
            return self._reply(envelope, rid, rows=rows, more=more)
        if op == "tables":
            listed, more = _page(sorted(self.tables), req)
            return self._reply(envelope, rid, more=more, tables=[
                {"name": k, "columns": None, "seq": self.tables[k]["seq"], "rows": len(self.tables[k]["rows"]),
                 "subscribers": len(self.subscribers.get(k, ()))} for k in listed])
        return self._reply(envelope, rid, error=("unknown-op", f"unknown op {op!r}"))

    def _reply(self, envelope: list[bytes], rid: Any, error: Optional[tuple[str, str]] = None,
               **fields: Any) -> None:
        if error:
            obj = {"ok": False, "id": rid, "error": {"code": error[0], "message": error[1]}}
        else:
            obj = {"ok": True, "id": rid, **fields}
        self._router.send_multipart(envelope + [json.dumps(obj).encode()])


def _page(items: list[Any], req: dict[str, Any]) -> tuple[list[Any], int]:
    """The part of ``items`` a request's ``offset`` and ``limit`` ask for, and
    how many come after it (PROTOCOL.md section 4)."""
    offset = int(req.get("offset") or 0)
    limit = req.get("limit")
    end = len(items) if limit is None else min(len(items), offset + int(limit))
    return items[offset:end], max(0, len(items) - max(end, offset))


def _last_endpoint(sock: zmq.Socket[bytes]) -> str:
    endpoint = sock.get(zmq.LAST_ENDPOINT)
    assert isinstance(endpoint, bytes)
    return endpoint.decode()
