"""Blocking PolicyBus clients: control calls (``Client``) and subscriptions
(``Subscriber``). Neither is thread-safe: use one from one thread.

Both only move bytes: the protocol is ``policybus.protocol.Session`` and the
control calls are ``policybus.calls``, shared with ``policybus.aio``."""

from __future__ import annotations

import time
from collections import deque
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence, TypeVar

import zmq

from . import calls, sockets
from .calls import Call, checked
from .errors import PolicyBusError, PolicyBusTimeout
from .keys import Curve, Key
from .protocol import Change, Reply, Request, Row, Session, error_code
from .sockets import zmq_errors

_monotonic = time.monotonic
T = TypeVar("T")
C = TypeVar("C", bound="Client")


class Client:
    """Control calls to one node over a DEALER socket.

    ::

        with policybus.Client("tcp://127.0.0.1:5555") as node:
            node.query("alice:error(x)")

    Errors from the node raise ``PolicyBusError`` carrying its ``code``; no
    reply within ``timeout`` seconds raises ``PolicyBusTimeout``; a socket
    failure raises ``PolicyBusError`` with code ``bad-endpoint`` or
    ``transport`` and the ``endpoint``.

    For a node started with ``--curve-secret-key``, pass its public key as
    ``server_key`` and, if it has an allow-list, this client's ``public_key``
    and ``secret_key`` (Z85 strings or key files from ``policybus keygen``).
    A handshake the node refuses shows as a timeout.
    """

    def __init__(self, endpoint: str, timeout: float = 5.0, context: Optional[zmq.Context[Any]] = None,
                 client_id: Optional[str] = None, server_key: Optional[Key] = None,
                 public_key: Optional[Key] = None, secret_key: Optional[Key] = None) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._ctx: zmq.Context[zmq.Socket[bytes]] = context or zmq.Context.instance()
        self._session = Session(endpoint, client_id=client_id)
        self._curve = Curve.make(server_key, public_key, secret_key)
        self._dealer = sockets.dealer(self._ctx, endpoint, self._curve)
        self._closed = False

    @property
    def client_id(self) -> str:
        """The id this client sends with every request (keys its lease)."""
        return self._session.client_id

    def request(self, op: str, timeout: Optional[float] = None, **fields: Any) -> Reply:
        """Sends one control request and returns the reply object.

        Raises ``PolicyBusError`` (with the node's code) when the reply has
        ``ok: false``, and ``PolicyBusTimeout`` when none comes in time.
        """
        self._check_open()
        tables = fields.pop("tables", None)
        self._session.now = _monotonic()
        rid, frame = self._session.request(op, tables=tables, **fields)
        with zmq_errors(self.endpoint):
            self._send_request(rid, frame)
            reply = self._wait(rid, self.timeout if timeout is None else timeout)
        return checked(reply, self.endpoint)

    def _send_request(self, rid: int, frame: bytes) -> None:
        if not sockets.send(self._dealer, frame):
            self._session.forget(rid)
            raise calls.unsent(self.endpoint)

    def _call(self, call: Call[T]) -> T:
        """Runs one ``policybus.calls`` call; returns what it reads from the reply."""
        return call.read(self.request(call.op, **call.fields))

    def _run(self, plan: calls.Plan[T]) -> T:
        """Runs the calls of a ``policybus.calls`` plan; returns its result."""
        steps = calls.Steps(plan)
        while (call := steps.call) is not None:
            steps.answer(calls.outcome(lambda: self._call(call)))
        return steps.result()

    # MARK: - The control calls (policybus.calls)

    def hello(self) -> Reply:
        """The node's name, kind, protocol version, data endpoint and timers."""
        return self._call(calls.hello())

    def query(self, query: str, offset: int = 0, limit: Optional[int] = None) -> set[Row]:
        """Rows matching ``query`` (``"alice:error(x)"`` or a bare table name),
        as a set of tuples: all, or a page of the sorted rows. Without
        ``limit``, a reply too large for the node is read in pages."""
        if limit is None:
            return self._run(calls.all_rows(query, offset))
        return self._call(calls.query(query, offset, limit))

    def tables(self, offset: int = 0, limit: Optional[int] = None) -> list[Reply]:
        """The node's tables: a list of dicts with name, columns, seq, rows, subscribers."""
        return self._call(calls.tables(offset, limit))

    def status(self, offset: int = 0, limit: Optional[int] = None) -> Reply:
        """The node's status: a page of its clients, published tables and
        triggers (``*_more`` count the rest), counters."""
        return self._call(calls.status(offset, limit))

    def rules(self, policy: str) -> list[Any]:
        """The rules of a policy (engines), as the node reports them."""
        return self._call(calls.rules(policy))

    def insert_rule(self, policy: str, rule: str) -> Reply:
        """Adds a rule (text) to a policy; returns the reply."""
        return self._call(calls.insert_rule(policy, rule))

    def delete_rule(self, policy: str, rule: str) -> Reply:
        """Deletes a rule (text, or the id the node gave it) from a policy."""
        return self._call(calls.delete_rule(policy, rule))

    def create_policy(self, name: str, rules: Optional[str] = None) -> Reply:
        """Creates a policy at an engine (durable like rules), empty or with
        ``rules`` (policy text) loaded in the same transaction."""
        return self._call(calls.create_policy(name, rules))

    def delete_policy(self, name: str) -> Reply:
        """Deletes a policy with its rules and facts, in one transaction."""
        return self._call(calls.delete_policy(name))

    def policies(self) -> list[Reply]:
        """The engine's policies: dicts with name and rules (a count)."""
        return self._call(calls.policies())

    def simulate(self, changes: Iterable[Mapping[str, Any]], tables: Iterable[str]) -> list[Reply]:
        """What ``changes`` (``rules``/``facts`` requests as dicts with ``op``)
        would do to ``tables``: one ``{"table", "added", "removed"}`` each;
        the engine is left as it was."""
        return self._call(calls.simulate(changes, tables))

    def insert_facts(self, table: str, rows: Iterable[Sequence[Any]]) -> Reply:
        """Inserts rows into a policy table (engines), e.g. ``"alice:q"``."""
        return self._call(calls.insert_facts(table, rows))

    def delete_facts(self, table: str, rows: Iterable[Sequence[Any]]) -> Reply:
        """Deletes rows from a policy table (engines)."""
        return self._call(calls.delete_facts(table, rows))

    # MARK: - Waiting

    def _wait(self, rid: int, timeout: float) -> Reply:
        deadline = _monotonic() + timeout
        while True:
            remaining = deadline - _monotonic()
            if remaining <= 0:
                self._session.forget(rid)
                raise calls.timed_out(self.endpoint, timeout)
            if self._dealer.poll(int(remaining * 1000) + 1, zmq.POLLIN):
                self._session.now = _monotonic()
                got, reply, _ = self._session.on_reply(self._dealer.recv())
                if got == rid:
                    return reply

    def _check_open(self) -> None:
        if self._closed:
            raise PolicyBusError("closed", "the client is closed", endpoint=self.endpoint)

    def close(self) -> None:
        """Closes the socket. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._dealer.close(linger=0)

    def __enter__(self: C) -> C:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Subscriber(Client):
    """Follows tables of one node: a snapshot first, then every delta.

    ::

        with policybus.Subscriber("tcp://127.0.0.1:5555") as sub:
            sub.subscribe("alice:error")
            for change in sub:
                print(change.table, change.kind, change.added, change.removed)

    Iterating blocks and yields ``Change`` tuples forever; ``changes(timeout)``
    stops after a time, ``next_change(timeout)`` returns one or None, and
    ``run(callback)`` calls back for each until ``stop()``. The subscriber
    resyncs by itself (a ``resync`` change) after a lost delta, a publisher
    restart or silence, and renews its lease while it is iterated or waiting.
    """

    # Messages handled between two looks at the clock and the control socket.
    _BATCH = 256

    def __init__(self, endpoint: str, timeout: float = 5.0, context: Optional[zmq.Context[Any]] = None,
                 client_id: Optional[str] = None, rcvhwm: Optional[int] = None,
                 rcvbuf: Optional[int] = None, server_key: Optional[Key] = None,
                 public_key: Optional[Key] = None, secret_key: Optional[Key] = None) -> None:
        super().__init__(endpoint, timeout=timeout, context=context, client_id=client_id,
                         server_key=server_key, public_key=public_key, secret_key=secret_key)
        self._sub: Optional[zmq.Socket[bytes]] = None
        self._rcvhwm = rcvhwm
        self._rcvbuf = rcvbuf
        self._queue: deque[Change] = deque()
        self._stopped = False
        self._poller = zmq.Poller()
        self._poller.register(self._dealer, zmq.POLLIN)

    # MARK: - Subscribing

    def subscribe(self, *tables: str, timeout: Optional[float] = None) -> None:
        """Follows tables; returns when their snapshots are in.

        The snapshots are the first changes the iteration yields. Raises
        ``PolicyBusError`` (e.g. code ``unknown-policy``) and follows none of
        ``tables`` if the node refuses them. An engine whose tables' peer
        inputs are still syncing answers ``not-ready``: asked again until
        ``timeout``.
        """
        self._check_open()
        session = self._session
        names = [t for t in dict.fromkeys(tables) if t not in session.tables]
        if not names:
            return
        sub = self._open_data() if self._sub is None else self._sub
        session.now = _monotonic()
        with zmq_errors(self.endpoint):
            for prefix in session.add_tables(names):
                sub.setsockopt(zmq.SUBSCRIBE, prefix)  # before the snapshot (rule 1)
            deadline = _monotonic() + (self.timeout if timeout is None else timeout)
            try:
                while True:
                    rid, frame = session.subscribe_request(names)
                    self._send_request(rid, frame)
                    reply = self._wait(rid, max(deadline - _monotonic(), 0.0))
                    if error_code(reply) != "not-ready" or _monotonic() + session.request_timeout >= deadline:
                        break
                    self._pump(session.request_timeout)
                checked(reply, self.endpoint)
                # A table larger than one chunk is read in chunks after the reply.
                while not all(session.is_synced(n) for n in names):
                    remaining = deadline - _monotonic()
                    if remaining <= 0:
                        raise PolicyBusTimeout(f"no whole snapshot of {names} from {self.endpoint} in time",
                                               endpoint=self.endpoint)
                    self._pump(min(remaining, session.tick_interval()))
            except PolicyBusError:
                for prefix in session.remove_tables(names):
                    sub.setsockopt(zmq.UNSUBSCRIBE, prefix)
                raise
            self._follow_data_endpoint()

    def unsubscribe(self, *tables: str) -> None:
        """Stops following tables and tells the node (its trigger may go)."""
        self._check_open()
        with zmq_errors(self.endpoint):
            for prefix in self._session.remove_tables(tables):
                if self._sub is not None:
                    self._sub.setsockopt(zmq.UNSUBSCRIBE, prefix)
        self._queue = deque(c for c in self._queue if c.table not in tables)
        self.request("unsubscribe", tables=list(tables))

    def rows(self, table: str) -> set[Row]:
        """The table's current rows, as a set of tuples (a copy)."""
        return self._session.rows(table)

    @property
    def subscribed(self) -> list[str]:
        """The tables this subscriber follows."""
        return self._session.tables

    @property
    def resyncs(self) -> int:
        """How many resyncs have happened (all tables)."""
        return self._session.resyncs

    @property
    def resumes(self) -> int:
        """How many of the resyncs were answered with the missed deltas
        (``subscribe`` with ``since``) rather than a snapshot."""
        return self._session.resumes

    def _open_data(self) -> zmq.Socket[bytes]:
        hello = self.hello()
        data = self._session.data
        if not data:
            raise PolicyBusError("bad-reply", f"hello gave no data endpoint: {hello!r}",
                                 endpoint=self.endpoint)
        sub = sockets.subscriber(self._ctx, data, self._curve, self._rcvhwm, self._rcvbuf)
        try:
            sockets.connect_and_wait(sub, data, 1.0)
        except PolicyBusError:
            sub.close(linger=0)
            raise
        self._sub = sub
        self._session.sub_endpoint = data
        self._poller.register(sub, zmq.POLLIN)
        return sub

    def _follow_data_endpoint(self) -> None:
        # A restarted node may have bound a new data port: follow it.
        moved = self._session.data_move()
        if moved is not None and self._sub is not None:
            old, new = moved
            sockets.disconnect(self._sub, old)
            sockets.connect_and_wait(self._sub, new, 1.0)
            self._send(self._session.tick())

    # MARK: - Waiting (pumps both sockets)

    def _wait(self, rid: int, timeout: float) -> Reply:
        deadline = _monotonic() + timeout
        while True:
            now = _monotonic()
            if now >= deadline:
                self._session.forget(rid)
                raise calls.timed_out(self.endpoint, timeout)
            reply = self._pump(min(deadline - now, self._session.tick_interval()), rid)
            if reply is not None:
                return reply

    def _pump(self, wait: float, rid: Optional[int] = None) -> Optional[Reply]:
        """Waits up to ``wait`` seconds for either socket, handles what came,
        and sends what is due; returns the reply to ``rid`` if it came."""
        session = self._session
        ready = dict(self._poller.poll(int(wait * 1000) + 1))
        session.now = _monotonic()
        reply = None
        if self._sub is not None and self._sub in ready:
            self._drain_data(self._sub)
        if self._dealer in ready:
            reply = self._drain_replies(rid)
        self._send(session.tick())
        return reply

    def wait_synced(self, timeout: Optional[float] = None, live: bool = False) -> None:
        """Waits until every followed table has its snapshot applied and no
        resync is pending (changes that arrive meanwhile are kept for the
        iteration). With ``live``, also until data (at least a heartbeat) has
        arrived on every table since its snapshot, proving the subscription
        reached the publisher. Raises ``PolicyBusTimeout`` after ``timeout``
        seconds."""
        limit = self.timeout if timeout is None else timeout
        deadline = _monotonic() + limit
        done = self._session.all_live if live else self._session.all_synced
        with zmq_errors(self.endpoint):
            while not done():
                now = _monotonic()
                if now >= deadline:
                    raise PolicyBusTimeout(f"not in sync with {self.endpoint} after {limit}s",
                                           endpoint=self.endpoint)
                self._pump(min(deadline - now, self._session.tick_interval()))

    def _drain_replies(self, rid: Optional[int] = None) -> Optional[Reply]:
        found = None
        session = self._session
        while True:
            try:
                frame = self._dealer.recv(zmq.NOBLOCK)
            except zmq.Again:
                return found
            try:
                got, reply, changes = session.on_reply(frame)
            except PolicyBusError:
                continue  # not JSON: nothing we asked for
            self._queue.extend(changes)
            if rid is not None and got == rid:
                found = reply
            self._follow_data_endpoint()

    def _drain_data(self, sub: zmq.Socket[bytes]) -> None:
        on_data = self._session.on_data
        recv = sub.recv
        queue = self._queue
        for _ in range(self._BATCH):
            try:
                change = on_data(recv(zmq.NOBLOCK))
            except zmq.Again:
                return
            if change is not None:
                queue.append(change)

    def _send(self, requests: list[Request]) -> None:
        for _, frame in requests:  # one not queued is re-sent when due (Session.tick)
            sockets.send(self._dealer, frame)

    def _housekeeping(self) -> None:
        session = self._session
        session.now = _monotonic()
        self._drain_replies()
        self._send(session.tick())

    # MARK: - Iterating

    def __iter__(self) -> Iterator[Change]:
        return self.changes()

    def changes(self, timeout: Optional[float] = None) -> Iterator[Change]:
        """Yields changes as they arrive; stops after ``timeout`` seconds
        (None: never) or when ``stop()`` is called."""
        self._check_open()
        self._stopped = False
        # One guard around the whole loop: nothing added per message.
        with zmq_errors(self.endpoint):
            deadline = None if timeout is None else _monotonic() + timeout
            session = self._session
            queue = self._queue
            on_data = session.on_data
            budget = 0
            while not self._stopped:
                while queue:
                    yield queue.popleft()
                    if self._stopped:
                        return
                if budget <= 0:
                    self._housekeeping()
                    budget = self._BATCH
                    if deadline is not None and session.now >= deadline:
                        return
                    if queue:
                        continue
                sub = self._sub
                if sub is not None:
                    try:
                        frame = sub.recv(zmq.NOBLOCK)
                    except zmq.Again:
                        frame = None
                    if frame is not None:
                        budget -= 1
                        change = on_data(frame)
                        if session.wants_send:
                            self._send(session.tick())
                        if change is not None:
                            yield change
                        continue
                # Nothing buffered: sleep until something arrives or a timer is due.
                wait = session.tick_interval()
                if deadline is not None:
                    wait = min(wait, max(0.0, deadline - _monotonic()))
                self._poller.poll(int(wait * 1000) + 1)
                budget = 0

    def next_change(self, timeout: Optional[float] = None) -> Optional[Change]:
        """The next change, or None if none comes within ``timeout`` seconds."""
        for change in self.changes(timeout):
            self._stopped = True
            return change
        return None

    def run(self, callback: Callable[[Change], object], timeout: Optional[float] = None) -> None:
        """Calls ``callback(change)`` for each change until ``stop()`` (e.g.
        from the callback) or ``timeout`` seconds."""
        for change in self.changes(timeout):
            callback(change)

    def stop(self) -> None:
        """Makes the running iteration (or ``run``) return."""
        self._stopped = True

    # MARK: - Closing

    def close(self, unsubscribe: bool = True) -> None:
        """Unsubscribes (so the node drops triggers at once, not at lease
        expiry), then closes the sockets."""
        if self._closed:
            return
        if unsubscribe and self._session.tables:
            try:
                self.request("unsubscribe", tables=self._session.tables, timeout=min(self.timeout, 1.0))
            except PolicyBusError:
                pass  # the node is gone or refused: the lease will expire
        if self._sub is not None:
            self._sub.close(linger=0)
        super().close()
