"""The clients on asyncio, on ``zmq.asyncio``::

    async with policybus.aio.Client("tcp://127.0.0.1:5555") as node:
        rows = await node.query("alice:error(x)")

    async with policybus.aio.Subscriber("tcp://127.0.0.1:5555") as sub:
        await sub.subscribe("alice:error")
        async for change in sub:
            ...

The protocol rules are the same ``policybus.protocol.Session``, and the
control calls the same ``policybus.calls``, as the blocking clients'. One
background task per client (started by ``__aenter__`` or the first request)
pumps its sockets: it hands replies to the waiting requests and changes to the
iterators, and sends resyncs and lease renewals when due. Requests from several
tasks may be in flight at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any, AsyncIterator, Callable, Iterable, Mapping, Optional, Sequence, TypeVar

import zmq
import zmq.asyncio

from . import calls, sockets
from .calls import Call, checked
from .errors import PolicyBusError, PolicyBusTimeout
from .keys import Curve, Key
from .protocol import Change, Reply, Row, Session, error_code
from .sockets import zmq_errors

_monotonic = time.monotonic
T = TypeVar("T")
C = TypeVar("C", bound="Client")


class Client:
    """Control calls to one node on asyncio; see ``policybus.Client``.

    Errors are the blocking client's: ``PolicyBusError`` with the node's code,
    ``PolicyBusTimeout``, and ``bad-endpoint`` or ``transport`` for socket
    failures. Close it with ``async with`` or ``await close()``.
    """

    def __init__(self, endpoint: str, timeout: float = 5.0,
                 context: Optional[zmq.asyncio.Context] = None, client_id: Optional[str] = None,
                 server_key: Optional[Key] = None, public_key: Optional[Key] = None,
                 secret_key: Optional[Key] = None) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._ctx = context or zmq.asyncio.Context.instance()
        self._session = Session(endpoint, client_id=client_id)
        self._curve = Curve.make(server_key, public_key, secret_key)
        self._dealer = sockets.dealer(self._ctx, endpoint, self._curve)
        # Non-blocking sends and receives go through a plain (shadow) socket:
        # no future per message.
        self._dealer_sync: zmq.Socket[bytes] = zmq.Socket.shadow(self._dealer.underlying)
        self._poller = zmq.asyncio.Poller()
        self._poller.register(self._dealer, zmq.POLLIN)
        self._waiters: dict[int, asyncio.Future[Reply]] = {}  # request id -> the reply
        self._pump_task: Optional[asyncio.Task[None]] = None
        self._closed = False

    @property
    def client_id(self) -> str:
        """The id this client sends with every request (keys its lease)."""
        return self._session.client_id

    # MARK: - Lifecycle

    async def __aenter__(self: C) -> C:
        self._start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _start(self) -> None:
        if self._pump_task is None:
            self._pump_task = asyncio.get_running_loop().create_task(self._pump())

    async def close(self) -> None:
        """Stops the pump and closes the socket. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._pump_task is not None:
            self._pump_task.cancel()
            try:
                await self._pump_task
            except asyncio.CancelledError:
                pass
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(self._closed_error())
        self._dealer.close(linger=0)

    def _closed_error(self) -> PolicyBusError:
        return PolicyBusError("closed", "the client is closed", endpoint=self.endpoint)

    # MARK: - Requests

    async def request(self, op: str, timeout: Optional[float] = None, **fields: Any) -> Reply:
        """Sends one control request and awaits the reply; raises
        ``PolicyBusError`` with the node's code on ``ok: false``."""
        if self._closed:
            raise self._closed_error()
        self._start()
        tables = fields.pop("tables", None)
        self._session.now = _monotonic()
        rid, frame = self._session.request(op, tables=tables, **fields)
        return checked(await self._await_reply(rid, frame, timeout), self.endpoint)

    async def _call(self, call: Call[T]) -> T:
        """Runs one ``policybus.calls`` call; returns what it reads from the reply."""
        return call.read(await self.request(call.op, **call.fields))

    async def _run(self, plan: calls.Plan[T]) -> T:
        """Runs the calls of a ``policybus.calls`` plan; returns its result."""
        steps = calls.Steps(plan)
        while (call := steps.call) is not None:
            steps.answer(await calls.outcome_of(self._call(call)))
        return steps.result()

    async def _await_reply(self, rid: int, frame: bytes, timeout: Optional[float]) -> Reply:
        fut = asyncio.get_running_loop().create_future()
        self._waiters[rid] = fut
        limit = self.timeout if timeout is None else timeout
        try:
            with zmq_errors(self.endpoint):
                sent = sockets.send(self._dealer_sync, frame)
            if not sent:
                self._session.forget(rid)
                raise calls.unsent(self.endpoint)
            return await asyncio.wait_for(fut, limit)
        except asyncio.TimeoutError:
            self._session.forget(rid)
            raise calls.timed_out(self.endpoint, limit) from None
        finally:
            self._waiters.pop(rid, None)

    # MARK: - The control calls (policybus.calls; documented on policybus.Client)

    async def hello(self) -> Reply:
        return await self._call(calls.hello())

    async def query(self, query: str, offset: int = 0, limit: Optional[int] = None) -> set[Row]:
        if limit is None:
            return await self._run(calls.all_rows(query, offset))
        return await self._call(calls.query(query, offset, limit))

    async def tables(self, offset: int = 0, limit: Optional[int] = None) -> list[Reply]:
        return await self._call(calls.tables(offset, limit))

    async def status(self, offset: int = 0, limit: Optional[int] = None) -> Reply:
        return await self._call(calls.status(offset, limit))

    async def rules(self, policy: str) -> list[Any]:
        return await self._call(calls.rules(policy))

    async def insert_rule(self, policy: str, rule: str) -> Reply:
        return await self._call(calls.insert_rule(policy, rule))

    async def delete_rule(self, policy: str, rule: str) -> Reply:
        return await self._call(calls.delete_rule(policy, rule))

    async def create_policy(self, name: str, rules: Optional[str] = None) -> Reply:
        return await self._call(calls.create_policy(name, rules))

    async def delete_policy(self, name: str) -> Reply:
        return await self._call(calls.delete_policy(name))

    async def policies(self) -> list[Reply]:
        return await self._call(calls.policies())

    async def simulate(self, changes: Iterable[Mapping[str, Any]], tables: Iterable[str]) -> list[Reply]:
        return await self._call(calls.simulate(changes, tables))

    async def insert_facts(self, table: str, rows: Iterable[Sequence[Any]]) -> Reply:
        return await self._call(calls.insert_facts(table, rows))

    async def delete_facts(self, table: str, rows: Iterable[Sequence[Any]]) -> Reply:
        return await self._call(calls.delete_facts(table, rows))

    # MARK: - The pump

    async def _pump(self) -> None:
        session = self._session
        try:
            while True:
                with zmq_errors(self.endpoint):
                    ready = dict(await self._poller.poll(int(session.tick_interval() * 1000)))
                session.now = _monotonic()
                self._handle(ready)
        except PolicyBusError as err:
            # Nobody to raise it to here: hand it to whoever waits, and stop;
            # the next request (or iteration) starts the pump again.
            self._pump_task = None
            self._failed(err)

    def _failed(self, err: PolicyBusError) -> None:
        """The pump stopped on ``err``: the waiting requests raise it."""
        for fut in self._waiters.values():
            if not fut.done():
                fut.set_exception(err)

    def _handle(self, ready: dict[Any, int]) -> None:
        """Handles what the poll found and sends what is due."""
        with zmq_errors(self.endpoint):
            if self._dealer in ready:
                self._drain_replies()
            self._send_due()

    def _send_due(self) -> None:
        for _, frame in self._session.tick():  # one not queued is re-sent when due
            sockets.send(self._dealer_sync, frame)

    def _drain_replies(self) -> None:
        session = self._session
        while True:
            try:
                frame = self._dealer_sync.recv(zmq.NOBLOCK)
            except zmq.Again:
                return
            try:
                rid, reply, changes = session.on_reply(frame)
            except PolicyBusError:
                continue  # not JSON: nothing we asked for
            self._on_changes(changes)
            fut = self._waiters.get(rid) if rid is not None else None
            if fut is not None and not fut.done():
                fut.set_result(reply)

    def _on_changes(self, changes: list[Change]) -> None:
        """Changes caused by a reply (snapshots): a subscriber keeps them."""


class Subscriber(Client):
    """Follows tables of one node on asyncio; see ``policybus.Subscriber``."""

    def __init__(self, endpoint: str, timeout: float = 5.0,
                 context: Optional[zmq.asyncio.Context] = None, client_id: Optional[str] = None,
                 rcvhwm: Optional[int] = None, server_key: Optional[Key] = None,
                 public_key: Optional[Key] = None, secret_key: Optional[Key] = None) -> None:
        super().__init__(endpoint, timeout=timeout, context=context, client_id=client_id,
                         server_key=server_key, public_key=public_key, secret_key=secret_key)
        self._rcvhwm = rcvhwm
        self._sub: Optional[zmq.asyncio.Socket] = None
        self._sub_sync: Optional[zmq.Socket[bytes]] = None
        self._queue: deque[Change] = deque()
        self._arrived = asyncio.Event()
        self._error: Optional[PolicyBusError] = None  # what stopped the pump, for the iteration

    async def close(self, unsubscribe: bool = True) -> None:
        """Unsubscribes, stops the pump and closes the sockets."""
        if self._closed:
            return
        if unsubscribe and self._session.tables and self._pump_task is not None:
            try:
                await self.request("unsubscribe", tables=self._session.tables,
                                   timeout=min(self.timeout, 1.0))
            except PolicyBusError:
                pass  # gone or refused: the node's lease expiry cleans up
        await super().close()
        self._arrived.set()
        if self._sub is not None:
            self._sub.close(linger=0)

    # MARK: - Subscribing

    async def subscribe(self, *tables: str, timeout: Optional[float] = None) -> None:
        """Follows tables; returns when their snapshots are in (they are the
        first changes the iteration yields). An engine whose tables' peer
        inputs are still syncing answers ``not-ready``: asked again until
        ``timeout``."""
        session = self._session
        names = [t for t in dict.fromkeys(tables) if t not in session.tables]
        if not names:
            return
        sub = await self._open_data() if self._sub is None else self._sub
        session.now = _monotonic()
        with zmq_errors(self.endpoint):
            for prefix in session.add_tables(names):
                sub.setsockopt(zmq.SUBSCRIBE, prefix)  # before the snapshot (rule 1)
        deadline = _monotonic() + (self.timeout if timeout is None else timeout)
        try:
            while True:
                rid, frame = session.subscribe_request(names)
                reply = await self._await_reply(rid, frame, max(deadline - _monotonic(), 0.0))
                if error_code(reply) != "not-ready" or _monotonic() + session.request_timeout >= deadline:
                    break
                await asyncio.sleep(session.request_timeout)  # the node's own wait has passed: ask again later
            checked(reply, self.endpoint)
            # A table larger than one chunk is read in chunks after the reply,
            # by the pump: wait for the last one.
            await self._wait_until(lambda: all(session.is_synced(n) for n in names), deadline,
                                   f"no whole snapshot of {names} from {self.endpoint} in time")
        except PolicyBusError:
            with zmq_errors(self.endpoint):
                for prefix in session.remove_tables(names):
                    sub.setsockopt(zmq.UNSUBSCRIBE, prefix)
            raise

    async def unsubscribe(self, *tables: str) -> None:
        """Stops following tables and tells the node."""
        with zmq_errors(self.endpoint):
            for prefix in self._session.remove_tables(tables):
                if self._sub is not None:
                    self._sub.setsockopt(zmq.UNSUBSCRIBE, prefix)
        self._queue = deque(c for c in self._queue if c.table not in tables)
        await self.request("unsubscribe", tables=list(tables))

    async def wait_synced(self, timeout: Optional[float] = None, live: bool = False) -> None:
        """Waits until every table is in sync (and, with ``live``, has had
        data since its snapshot); see ``policybus.Subscriber.wait_synced``."""
        self._start()
        limit = self.timeout if timeout is None else timeout
        done = self._session.all_live if live else self._session.all_synced
        await self._wait_until(done, _monotonic() + limit, f"not in sync with {self.endpoint} after {limit}s")

    async def _wait_until(self, done: Callable[[], bool], deadline: float, message: str) -> None:
        """Waits while the pump works until ``done()``; raises
        ``PolicyBusTimeout(message)`` at ``deadline``, or what stopped the pump."""
        while not done():
            if self._error is not None:
                err, self._error = self._error, None
                raise err
            if _monotonic() >= deadline:
                raise PolicyBusTimeout(message, endpoint=self.endpoint)
            await asyncio.sleep(0.01)

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

    async def _open_data(self) -> zmq.asyncio.Socket:
        await self.hello()
        data = self._session.data
        if not data:
            raise PolicyBusError("bad-reply", "hello gave no data endpoint", endpoint=self.endpoint)
        sub = sockets.subscriber(self._ctx, data, self._curve, self._rcvhwm)
        try:
            await _connect_and_wait(sub, data, 1.0)
        except PolicyBusError:
            sub.close(linger=0)
            raise
        self._sub = sub
        self._sub_sync = zmq.Socket.shadow(sub.underlying)
        self._session.sub_endpoint = data
        self._poller.register(sub, zmq.POLLIN)
        return sub

    # MARK: - Iterating

    def __aiter__(self) -> AsyncIterator[Change]:
        return self.changes()

    async def changes(self, timeout: Optional[float] = None) -> AsyncIterator[Change]:
        """Yields changes as they arrive; stops after ``timeout`` seconds."""
        self._start()
        deadline = None if timeout is None else _monotonic() + timeout
        queue = self._queue
        while not self._closed:
            while queue:
                yield queue.popleft()
            if self._error is not None:
                err, self._error = self._error, None
                raise err
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

    async def next_change(self, timeout: Optional[float] = None) -> Optional[Change]:
        """The next change, or None if none comes within ``timeout`` seconds."""
        async for change in self.changes(timeout):
            return change
        return None

    # MARK: - The pump (adds the data socket to the client's)

    def _handle(self, ready: dict[Any, int]) -> None:
        with zmq_errors(self.endpoint):
            if self._sub is not None and self._sub_sync is not None and self._sub in ready:
                self._drain_data(self._sub_sync)
        super()._handle(ready)
        self._follow_data_endpoint()
        if self._queue:
            self._arrived.set()

    def _on_changes(self, changes: list[Change]) -> None:
        self._queue.extend(changes)

    def _failed(self, err: PolicyBusError) -> None:
        super()._failed(err)
        self._error = err
        self._arrived.set()

    def _drain_data(self, sub: zmq.Socket[bytes]) -> None:
        on_data = self._session.on_data
        recv = sub.recv
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
                self._send_due()

    def _follow_data_endpoint(self) -> None:
        # A restarted node may have bound a new data port: follow it. The
        # pump does not wait for the handshake here (it would hold up every
        # reply); a snapshot taken before it is caught by the seq checks.
        moved = self._session.data_move()
        if moved is not None and self._sub is not None:
            old, new = moved
            sockets.disconnect(self._sub, old)
            sockets.connect(self._sub, new)
            with zmq_errors(self.endpoint):
                self._send_due()


async def _connect_and_wait(sock: zmq.asyncio.Socket, endpoint: str, timeout: float) -> None:
    """``sockets.connect_and_wait`` on asyncio: the handshake before the snapshot."""
    with zmq_errors(endpoint):
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        try:
            sockets.connect(sock, endpoint)
            if await monitor.poll(int(timeout * 1000)):
                await monitor.recv_multipart()
        finally:
            sock.disable_monitor()
            monitor.close(linger=0)
