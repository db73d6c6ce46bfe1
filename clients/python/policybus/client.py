"""Blocking PolicyBus clients: control calls (``Client``) and subscriptions
(``Subscriber``). Neither is thread-safe: use one from one thread."""

import time
from collections import deque

import zmq

from .errors import PolicyBusError, PolicyBusTimeout
from .keys import Curve
from .protocol import Session

_monotonic = time.monotonic


class _ControlCalls:
    """Control calls shared by ``Client`` and ``Subscriber``.

    Each needs ``self.request(op, **fields)`` returning the reply object.
    """

    def hello(self):
        """The node's name, kind, protocol version, data endpoint and timers."""
        return self.request("hello")

    def query(self, query):
        """Rows matching ``query`` (``"alice:error(x)"`` or a bare table name),
        as a set of tuples."""
        return set(map(tuple, self.request("query", query=query).get("rows", ())))

    def tables(self):
        """The node's tables: a list of dicts with name, columns, seq, rows, subscribers."""
        return self.request("tables").get("tables", [])

    def status(self):
        """The node's status (engines): subscriptions, triggers, sequence numbers, counters."""
        return self.request("status")

    def rules(self, policy):
        """The rules of a policy (engines), as the node reports them."""
        return self.request("rules", action="list", policy=policy).get("rules", [])

    def insert_rule(self, policy, rule):
        """Adds a rule (text) to a policy; returns the reply."""
        return self.request("rules", action="insert", policy=policy, rule=rule)

    def delete_rule(self, policy, rule):
        """Deletes a rule (text, or the id the node gave it) from a policy."""
        return self.request("rules", action="delete", policy=policy, rule=rule)

    def insert_facts(self, table, rows):
        """Inserts rows into a policy table (engines), e.g. ``"alice:q"``."""
        return self.request("facts", action="insert", table=table,
                            rows=[list(r) for r in rows])

    def delete_facts(self, table, rows):
        """Deletes rows from a policy table (engines)."""
        return self.request("facts", action="delete", table=table,
                            rows=[list(r) for r in rows])


class Client(_ControlCalls):
    """Control calls to one node over a DEALER socket.

    ::

        with policybus.Client("tcp://127.0.0.1:5555") as node:
            node.query("alice:error(x)")

    Errors from the node raise ``PolicyBusError`` carrying its ``code``; no
    reply within ``timeout`` seconds raises ``PolicyBusTimeout``.

    For a node started with ``--curve-secret-key``, pass its public key as
    ``server_key`` and, if it has an allow-list, this client's ``public_key``
    and ``secret_key`` (Z85 strings or key files from ``policybus keygen``).
    A handshake the node refuses shows as a timeout.
    """

    def __init__(self, endpoint, timeout=5.0, context=None, client_id=None,
                 server_key=None, public_key=None, secret_key=None):
        self.endpoint = endpoint
        self.timeout = timeout
        self._ctx = context or zmq.Context.instance()
        self._session = Session(endpoint, client_id=client_id)
        self._curve = Curve.make(server_key, public_key, secret_key)
        self._dealer = self._ctx.socket(zmq.DEALER)
        self._dealer.linger = 0
        if self._curve:
            self._curve.apply(self._dealer)
        self._dealer.connect(endpoint)
        self._closed = False

    @property
    def client_id(self):
        """The id this client sends with every request (keys its lease)."""
        return self._session.client_id

    def request(self, op, timeout=None, **fields):
        """Sends one control request and returns the reply object.

        Raises ``PolicyBusError`` (with the node's code) when the reply has
        ``ok: false``, and ``PolicyBusTimeout`` when none comes in time.
        """
        self._check_open()
        tables = fields.pop("tables", None)
        self._session.now = _monotonic()
        rid, frame = self._session.request(op, tables=tables, **fields)
        self._dealer.send(frame)
        reply = self._wait(rid, self.timeout if timeout is None else timeout)
        return _checked(reply)

    def _wait(self, rid, timeout):
        deadline = _monotonic() + timeout
        while True:
            remaining = deadline - _monotonic()
            if remaining <= 0:
                self._session.forget(rid)
                raise PolicyBusTimeout(f"no reply from {self.endpoint} in {timeout}s")
            if self._dealer.poll(remaining * 1000, zmq.POLLIN):
                self._session.now = _monotonic()
                got, reply, _ = self._session.on_reply(self._dealer.recv())
                if got == rid:
                    return reply

    def _check_open(self):
        if self._closed:
            raise PolicyBusError("closed", "the client is closed")

    def close(self):
        """Closes the socket. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._dealer.close(linger=0)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _connect_and_wait(sock, endpoint, timeout):
    """Connects and waits (briefly) for the ZMTP handshake.

    The snapshot must not be taken before our SUB subscription reaches the
    publisher (zguide's late-joiner race). Waiting for the handshake makes
    that rare; sequence numbers and heartbeats catch what is left.
    """
    monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
    try:
        sock.connect(endpoint)
        if monitor.poll(timeout * 1000):
            monitor.recv_multipart()
    finally:
        sock.disable_monitor()
        monitor.close(linger=0)


def _checked(reply):
    if reply.get("ok") is True:
        return reply
    err = reply.get("error")
    if isinstance(err, dict):
        raise PolicyBusError(str(err.get("code", "unknown")), str(err.get("message", "")), reply)
    raise PolicyBusError("bad-reply", f"reply without ok: {reply!r}", reply)


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

    def __init__(self, endpoint, timeout=5.0, context=None, client_id=None, rcvhwm=None, rcvbuf=None,
                 server_key=None, public_key=None, secret_key=None):
        super().__init__(endpoint, timeout=timeout, context=context, client_id=client_id,
                         server_key=server_key, public_key=public_key, secret_key=secret_key)
        self._sub = None
        self._data = None
        self._rcvhwm = rcvhwm
        self._rcvbuf = rcvbuf
        self._queue = deque()
        self._stopped = False
        self._poller = zmq.Poller()
        self._poller.register(self._dealer, zmq.POLLIN)

    # MARK: - Subscribing

    def subscribe(self, *tables, timeout=None):
        """Follows tables; returns when their snapshots are in.

        The snapshots are the first changes the iteration yields. Raises
        ``PolicyBusError`` (e.g. code ``unknown-policy``) and follows none of
        ``tables`` if the node refuses them.
        """
        self._check_open()
        session = self._session
        tables = [t for t in dict.fromkeys(tables) if t not in session.tables]
        if not tables:
            return
        if self._sub is None:
            self._open_data(self.hello())
        session.now = _monotonic()
        for prefix in session.add_tables(tables):
            self._sub.setsockopt(zmq.SUBSCRIBE, prefix)  # before the snapshot (rule 1)
        rid, frame = session.subscribe_request(tables)
        self._dealer.send(frame)
        try:
            _checked(self._wait(rid, self.timeout if timeout is None else timeout))
        except PolicyBusError:
            for prefix in session.remove_tables(tables):
                self._sub.setsockopt(zmq.UNSUBSCRIBE, prefix)
            raise
        self._follow_data_endpoint()

    def unsubscribe(self, *tables):
        """Stops following tables and tells the node (its trigger may go)."""
        self._check_open()
        for prefix in self._session.remove_tables(tables):
            self._sub.setsockopt(zmq.UNSUBSCRIBE, prefix)
        self._queue = deque(c for c in self._queue if c.table not in tables)
        self.request("unsubscribe", tables=list(tables))

    def rows(self, table):
        """The table's current rows, as a set of tuples (a copy)."""
        return self._session.rows(table)

    @property
    def subscribed(self):
        """The tables this subscriber follows."""
        return self._session.tables

    @property
    def resyncs(self):
        """How many resyncs have happened (all tables)."""
        return self._session.resyncs

    def _open_data(self, hello):
        self._sub = self._ctx.socket(zmq.SUB)
        self._sub.linger = 0
        if self._rcvhwm is not None:
            self._sub.rcvhwm = self._rcvhwm
        if self._rcvbuf is not None:
            self._sub.rcvbuf = self._rcvbuf  # the kernel's buffer (SO_RCVBUF)
        if self._curve:
            self._curve.apply(self._sub)  # the data socket is a CURVE server too
        self._data = self._session.data
        if not self._data:
            raise PolicyBusError("bad-reply", f"hello gave no data endpoint: {hello!r}")
        _connect_and_wait(self._sub, self._data, 1.0)
        self._poller.register(self._sub, zmq.POLLIN)

    def _follow_data_endpoint(self):
        # A restarted node may have bound a new data port: follow it, then
        # resync, since the snapshot was taken before we listened there.
        new = self._session.data
        if new and new != self._data and self._sub is not None:
            self._sub.disconnect(self._data)
            _connect_and_wait(self._sub, new, 1.0)
            self._data = new
            self._session.resync_all()
            self._send(self._session.tick())

    # MARK: - Waiting (pumps both sockets)

    def _wait(self, rid, timeout):
        deadline = _monotonic() + timeout
        while True:
            now = _monotonic()
            if now >= deadline:
                self._session.forget(rid)
                raise PolicyBusTimeout(f"no reply from {self.endpoint} in {timeout}s")
            reply = self._pump(min(deadline - now, self._session.tick_interval()), rid)
            if reply is not None:
                return reply

    def _pump(self, wait, rid=None):
        """Waits up to ``wait`` seconds for either socket, handles what came,
        and sends what is due; returns the reply to ``rid`` if it came."""
        session = self._session
        ready = dict(self._poller.poll(wait * 1000))
        session.now = _monotonic()
        reply = None
        if self._sub is not None and self._sub in ready:
            self._drain_data()
        if self._dealer in ready:
            reply = self._drain_replies(rid)
        self._send(session.tick())
        return reply

    def wait_synced(self, timeout=None, live=False):
        """Waits until every followed table has its snapshot applied and no
        resync is pending (changes that arrive meanwhile are kept for the
        iteration). With ``live``, also until data (at least a heartbeat) has
        arrived on every table since its snapshot, proving the subscription
        reached the publisher. Raises ``PolicyBusTimeout`` after ``timeout``
        seconds."""
        limit = self.timeout if timeout is None else timeout
        deadline = _monotonic() + limit
        done = self._session.all_live if live else self._session.all_synced
        while not done():
            now = _monotonic()
            if now >= deadline:
                raise PolicyBusTimeout(f"not in sync with {self.endpoint} after {limit}s")
            self._pump(min(deadline - now, self._session.tick_interval()))

    def _drain_replies(self, rid=None):
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

    def _drain_data(self):
        on_data = self._session.on_data
        recv = self._sub.recv
        queue = self._queue
        for _ in range(self._BATCH):
            try:
                change = on_data(recv(zmq.NOBLOCK))
            except zmq.Again:
                return
            if change is not None:
                queue.append(change)

    def _send(self, requests):
        for _, frame in requests:
            self._dealer.send(frame)

    def _housekeeping(self):
        session = self._session
        session.now = _monotonic()
        self._drain_replies()
        self._send(session.tick())

    # MARK: - Iterating

    def __iter__(self):
        return self.changes()

    def changes(self, timeout=None):
        """Yields changes as they arrive; stops after ``timeout`` seconds
        (None: never) or when ``stop()`` is called."""
        self._check_open()
        self._stopped = False
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
            self._poller.poll(wait * 1000)
            budget = 0

    def next_change(self, timeout=None):
        """The next change, or None if none comes within ``timeout`` seconds."""
        for change in self.changes(timeout):
            self._stopped = True
            return change
        return None

    def run(self, callback, timeout=None):
        """Calls ``callback(change)`` for each change until ``stop()`` (e.g.
        from the callback) or ``timeout`` seconds."""
        for change in self.changes(timeout):
            callback(change)

    def stop(self):
        """Makes the running iteration (or ``run``) return."""
        self._stopped = True

    # MARK: - Closing

    def close(self, unsubscribe=True):
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
