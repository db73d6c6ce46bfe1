"""A small in-process PolicyBus node that speaks protocol version 1, for
tests and benchmarks of the client without the Swift binary.

It serves tables you fill from the test, and can misbehave on purpose: lose
a delta, go silent, restart with a new epoch, send raw frames.
"""

import json
import queue
import socket
import threading
import time
import uuid

import zmq


class FakeNode:
    """A data-source-like node on loopback, run by a background thread.

    All socket work happens on that thread; the methods below hand it
    closures and wait for them.
    """

    def __init__(self, name="fake", heartbeat_ms=1000, lease_ms=10000,
                 advertise_host=None, heartbeats=True, sndhwm=None, curve_secret_key=None):
        self.name = name
        self.heartbeat_ms = heartbeat_ms
        self.lease_ms = lease_ms
        self.heartbeats = heartbeats
        self.epoch = uuid.uuid4().hex[:12]
        self.tables = {}            # name -> {"rows": set, "seq": int}
        self.requests = []          # every request object received, in order
        self.subscribers = {}       # table -> set of client ids
        self.snapshot_hook = None   # called (in the node thread) before a snapshot is taken
        self._advertise_host = advertise_host
        self._sndhwm = sndhwm
        self._curve_secret_key = curve_secret_key  # Z85 bytes: both sockets become CURVE servers
        self._calls = queue.Queue()
        # A plain socket pair wakes the node thread; any thread may write it.
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._ready = threading.Event()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"FakeNode-{name}", daemon=True)
        self._thread.start()
        self._ready.wait(5)

    # MARK: - Driving it from the test

    def call(self, fn):
        """Runs ``fn(node)`` on the node thread; returns its result."""
        done = threading.Event()
        box = {}

        def run():
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
        return box.get("value")

    def add_table(self, table, rows=()):
        self.call(lambda n: n.tables.setdefault(table, {"rows": set(map(tuple, rows)), "seq": 0}))

    def publish(self, table, added=(), removed=(), lose=False):
        """Applies a delta and publishes it (or only bumps seq if ``lose``)."""
        def run(n):
            t = n.tables.setdefault(table, {"rows": set(), "seq": 0})
            t["rows"].difference_update(map(tuple, removed))
            t["rows"].update(map(tuple, added))
            t["seq"] += 1
            if not lose:
                n._send(table, {"type": "delta", "pub": n.name, "epoch": n.epoch, "seq": t["seq"],
                                "added": [list(r) for r in added],
                                "removed": [list(r) for r in removed]})
            return t["seq"]
        return self.call(run)

    def heartbeat(self):
        self.call(lambda n: n._send_heartbeats())

    def send_raw(self, frame):
        self.call(lambda n: n._pub.send(frame))

    def send_frames(self, frames):
        """Sends prepared data frames as fast as possible (benchmarks)."""
        def run(n):
            send = n._pub.send
            for f in frames:
                send(f, copy=False)
        self.call(run)

    def restart(self, keep_rows=True):
        """Acts like a restarted publisher: a new epoch, sequence numbers from 0,
        no subscribers remembered."""
        def run(n):
            n.epoch = uuid.uuid4().hex[:12]
            n.subscribers.clear()
            for t in n.tables.values():
                t["seq"] = 0
                if not keep_rows:
                    t["rows"] = set()
        self.call(run)

    def close(self):
        self._stop = True
        self._wake_send()
        self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # MARK: - The node thread

    def _wake_send(self):
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass  # already closed: the node has stopped

    def _run(self):
        ctx = zmq.Context.instance()
        self._router = ctx.socket(zmq.ROUTER)
        self._router.linger = 0
        self._pub = ctx.socket(zmq.PUB)
        self._pub.linger = 0
        for sock in (self._router, self._pub):
            if self._curve_secret_key:
                sock.curve_server = True
                sock.curve_secretkey = self._curve_secret_key
        self._router.bind("tcp://127.0.0.1:*")
        if self._sndhwm is not None:
            self._pub.sndhwm = self._sndhwm
        self._pub.bind("tcp://127.0.0.1:*")
        self.control = self._router.last_endpoint.decode()
        self.data = self._pub.last_endpoint.decode()
        self.advertised_data = self.data
        if self._advertise_host:
            self.advertised_data = f"tcp://{self._advertise_host}:{self.data.rsplit(':', 1)[1]}"
        self._ready.set()
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._wake_r, zmq.POLLIN)
        next_hb = time.monotonic() + self.heartbeat_ms / 1000
        while not self._stop:
            timeout = max(0, next_hb - time.monotonic())
            ready = dict(poller.poll(timeout * 1000))
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

    def _send(self, table, obj):
        self._pub.send(table.encode() + b" " + json.dumps(obj).encode())

    def _send_heartbeats(self):
        for table, t in self.tables.items():
            self._send(table, {"type": "hb", "pub": self.name, "epoch": self.epoch, "seq": t["seq"]})

    def _serve(self, frames):
        envelope, body = frames[:-1], frames[-1]
        try:
            req = json.loads(body)
        except ValueError:
            return self._reply(envelope, None, error=("bad-json", "not JSON"))
        self.requests.append(req)
        rid = req.get("id")
        op = req.get("op")
        timers = {"data": self.advertised_data, "epoch": self.epoch,
                  "heartbeat_ms": self.heartbeat_ms, "lease_ms": self.lease_ms}
        if op == "hello":
            return self._reply(envelope, rid, name=self.name, kind="datasource", version=1, **timers)
        if op == "subscribe":
            out = {}
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
            t = self.tables.get(req.get("query"))
            if t is None:
                return self._reply(envelope, rid, error=("unknown-table", "no such table"))
            return self._reply(envelope, rid, rows=[list(r) for r in t["rows"]])
        if op == "tables":
            return self._reply(envelope, rid, tables=[
                {"name": k, "columns": None, "seq": t["seq"], "rows": len(t["rows"]),
                 "subscribers": len(self.subscribers.get(k, ()))} for k, t in self.tables.items()])
        return self._reply(envelope, rid, error=("unknown-op", f"unknown op {op!r}"))

    def _reply(self, envelope, rid, error=None, **fields):
        if error:
            obj = {"ok": False, "id": rid, "error": {"code": error[0], "message": error[1]}}
        else:
            obj = {"ok": True, "id": rid, **fields}
        self._router.send_multipart(envelope + [json.dumps(obj).encode()])
