"""The subscriber on asyncio, on ``zmq.asyncio``::

    async with policybus.aio.Subscriber("tcp://127.0.0.1:5555") as sub:
        await sub.subscribe("alice:error")
        async for change in sub:
            ...

The protocol rules are the same ``policybus.protocol.Session`` as the
blocking client's. One background task (started by ``__aenter__``) pumps both
sockets: it hands replies to the waiting requests and changes to the
iterators, and sends resyncs and lease renewals when due.
"""

import asyncio
import time
from collections import deque

import zmq
import zmq.asyncio

from .client import _checked
from .errors import PolicyBusError, PolicyBusTimeout
from .keys import Curve
from .protocol import Session

_monotonic = time.monotonic


class _AsyncControlCalls:
    """The control calls of ``policybus.Client``, as coroutines over ``request``."""

    async def hello(self):
        return await self.request("hello")

    async def query(self, query):
        reply = await self.request("query", query=query)
        return set(map(tuple, reply.get("rows", ())))

    async def tables(self):
        return (await self.request("tables")).get("tables", [])

    async def status(self):
        return await self.request("status")

    async def rules(self, policy):
        return (await self.request("rules", action="list", policy=policy)).get("rules", [])

    async def insert_rule(self, policy, rule):
        return await self.request("rules", action="insert", policy=policy, rule=rule)

    async def delete_rule(self, policy, rule):
        return await self.request("rules", action="delete", policy=policy, rule=rule)

    async def insert_facts(self, table, rows):
        return await self.request("facts", action="insert", table=table, rows=[list(r) for r in rows])

    async def delete_facts(self, table, rows):
        return await self.request("facts", action="delete", table=table, rows=[list(r) for r in rows])


class Subscriber(_AsyncControlCalls):
    """Follows tables of one node on asyncio; see ``policybus.Subscriber``."""

    def __init__(self, endpoint, timeout=5.0, context=None, client_id=None, rcvhwm=None,
                 server_key=None, public_key=None, secret_key=None):
        self.endpoint = endpoint
        self.timeout = timeout
        self._ctx = context or zmq.asyncio.Context.instance()
        self._session = Session(endpoint, client_id=client_id)
        self._rcvhwm = rcvhwm
        self._curve = Curve.make(server_key, public_key, secret_key)
        self._dealer = self._ctx.socket(zmq.DEALER)
        self._dealer.linger = 0
        if self._curve:
            self._curve.apply(self._dealer)
        self._dealer.connect(endpoint)
        self._dealer_sync = zmq.Socket.shadow(self._dealer.underlying)
        self._sub = None
        self._sub_sync = None
        self._data = None
        self._poller = zmq.asyncio.Poller()
        self._poller.register(self._dealer, zmq.POLLIN)
        self._waiters = {}       # request id -> Future of the reply
        self._queue = deque()
        self._arrived = asyncio.Event()
        self._pump_task = None
        self._closed = False

    @property
    def client_id(self):
        return self._session.client_id

    # MARK: - Lifecycle

    async def __aenter__(self):
        self._start()
        return self

    async def __aexit__(self, *exc):
        await self.close()

    def _start(self):
        if self._pump_task is None:
            self._pump_task = asyncio.get_running_loop().create_task(self._pump())

    async def close(self, unsubscribe=True):
        """Unsubscribes, stops the pump and closes the sockets."""
        if self._closed:
            return
        if unsubscribe and self._session.tables and self._pump_task is not None:
            try:
                await self.request("unsubscribe", tables=self._session.tables,
                                   timeout=min(self.timeout, 1.0))
            except PolicyBusError:
                pass  # gone or refused: the node's lease expiry cleans up
        self._closed = True
        if self._pump_task is not None:
            self._pump_task.cancel()
            try:
                await self._pump_task
            except asyncio.CancelledError:
                pass
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(PolicyBusError("closed", "the subscriber is closed"))
        self._arrived.set()
        if self._sub is not None:
            self._sub.close(linger=0)
        self._dealer.close(linger=0)

    # MARK: - Requests

    async def request(self, op, timeout=None, **fields):
        """Sends one control request and awaits the reply; raises
        ``PolicyBusError`` with the node's code on ``ok: false``."""
        if self._closed:
            raise PolicyBusError("closed", "the subscriber is closed")
        self._start()
        tables = fields.pop("tables", None)
        self._session.now = _monotonic()
        rid, frame = self._session.request(op, tables=tables, **fields)
        return _checked(await self._await_reply(rid, frame, timeout))

    async def _await_reply(self, rid, frame, timeout):
        fut = asyncio.get_running_loop().create_future()
        self._waiters[rid] = fut
        self._dealer_sync.send(frame)
        limit = self.timeout if timeout is None else timeout
        try:
            return await asyncio.wait_for(fut, limit)
        except asyncio.TimeoutError:
            self._session.forget(rid)
            raise PolicyBusTimeout(f"no reply from {self.endpoint} in {limit}s") from None
        finally:
            self._waiters.pop(rid, None)

    # MARK: - Subscribing

    async def subscribe(self, *tables, timeout=None):
        """Follows tables; returns when their snapshots are in (they are the
        first changes the iteration yields)."""
        session = self._session
        tables = [t for t in dict.fromkeys(tables) if t not in session.tables]
        if not tables:
            return
        if self._sub is None:
            await self.hello()
            await self._open_data()
        session.now = _monotonic()
        for prefix in session.add_tables(tables):
            self._sub.setsockopt(zmq.SUBSCRIBE, prefix)
        rid, frame = session.subscribe_request(tables)
        try:
            _checked(await self._await_reply(rid, frame, timeout))
        except PolicyBusError:
            for prefix in session.remove_tables(tables):
                self._sub.setsockopt(zmq.UNSUBSCRIBE, prefix)
            raise

    async def unsubscribe(self, *tables):
        """Stops following tables and tells the node."""
        for prefix in self._session.remove_tables(tables):
            self._sub.setsockopt(zmq.UNSUBSCRIBE, prefix)
        self._queue = deque(c for c in self._queue if c.table not in tables)
        await self.request("unsubscribe", tables=list(tables))

    async def wait_synced(self, timeout=None, live=False):
        """Waits until every table is in sync (and, with ``live``, has had
        data since its snapshot); see ``policybus.Subscriber.wait_synced``."""
        self._start()
        limit = self.timeout if timeout is None else timeout
        deadline = _monotonic() + limit
        done = self._session.all_live if live else self._session.all_synced
        while not done():
            if _monotonic() >= deadline:
                raise PolicyBusTimeout(f"not in sync with {self.endpoint} after {limit}s")
            await asyncio.sleep(0.01)

    def rows(self, table):
        """The table's current rows, as a set of tuples (a copy)."""
        return self._session.rows(table)

    @property
    def subscribed(self):
        return self._session.tables

    async def _open_data(self):
        if not self._session.data:
            raise PolicyBusError("bad-reply", "hello gave no data endpoint")
        self._sub = self._ctx.socket(zmq.SUB)
        self._sub.linger = 0
        if self._rcvhwm is not None:
            self._sub.rcvhwm = self._rcvhwm
        if self._curve:
            self._curve.apply(self._sub)
        self._sub_sync = zmq.Socket.shadow(self._sub.underlying)
        self._data = self._session.data
        # Wait briefly for the handshake, so that our subscription reaches
        # the publisher before the snapshot is taken (see client._connect_and_wait).
        monitor = self._sub.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        try:
            self._sub.connect(self._data)
            if await monitor.poll(1000):
                await monitor.recv_multipart()
        finally:
            self._sub.disable_monitor()
            monitor.close(linger=0)
        self._poller.register(self._sub, zmq.POLLIN)

    # MARK: - Iterating

    def __aiter__(self):
        return self.changes()

    async def changes(self, timeout=None):
        """Yields changes as they arrive; stops after ``timeout`` seconds."""
        self._start()
        deadline = None if timeout is None else _monotonic() + timeout
        queue = self._queue
        while not self._closed:
            while queue:
                yield queue.popleft()
            self._arrived.clear()
            if deadline is None:
                await self._arrived.wait()
                continue
            remaining = deadline - _monotonic()
            if remaining <= 0:
                return
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                return

    async def next_change(self, timeout=None):
        """The next change, or None if none comes within ``timeout`` seconds."""
        async for change in self.changes(timeout):
            return change
        return None

    # MARK: - The pump

    async def _pump(self):
        session = self._session
        while True:
            ready = dict(await self._poller.poll(session.tick_interval() * 1000))
            session.now = _monotonic()
            if self._sub is not None and self._sub in ready:
                self._drain_data()
            if self._dealer in ready:
                self._drain_replies()
            for _, frame in session.tick():
                self._dealer_sync.send(frame)
            if self._queue:
                self._arrived.set()

    def _drain_data(self):
        on_data = self._session.on_data
        recv = self._sub_sync.recv
        queue = self._queue
        session = self._session
        for _ in range(1024):  # then let the loop run other tasks
            try:
                change = on_data(recv(zmq.NOBLOCK))
            except zmq.Again:
                break
            if change is not None:
                queue.append(change)
            if session.wants_send:
                for _, frame in session.tick():
                    self._dealer_sync.send(frame)

    def _drain_replies(self):
        session = self._session
        while True:
            try:
                frame = self._dealer_sync.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                rid, reply, changes = session.on_reply(frame)
            except PolicyBusError:
                continue
            self._queue.extend(changes)
            fut = self._waiters.get(rid)
            if fut is not None and not fut.done():
                fut.set_result(reply)
            new = session.data
            if new and new != self._data and self._sub is not None:
                # The node moved its data socket (a restart): follow it and
                # resync, since the snapshot predates our listening there.
                self._sub.disconnect(self._data)
                self._sub.connect(new)
                self._data = new
                session.resync_all()
