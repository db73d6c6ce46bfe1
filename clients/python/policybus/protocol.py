"""The subscriber's protocol state machine, with no sockets in it.

A ``Session`` is fed what arrives (data frames from the SUB socket, reply
frames from the control socket) and the current time; it returns the changes
to hand to the user and keeps the requests it wants sent. The socket code in
``policybus.client`` and ``policybus.aio`` only moves bytes, so the rules of
docs/PROTOCOL.md live here once and are tested here without sockets:

1. subscribe the SUB to ``TABLE + " "`` before asking for the snapshot;
2. buffer data that arrives before the snapshot;
3. drop buffered deltas whose seq is at or below the snapshot's, apply the rest;
4. resync on a gap, a new epoch, a heartbeat ahead of us, or silence
   (3 x heartbeat_ms without a message on the table);
5. renew the lease every lease_ms / 3.
"""

from __future__ import annotations

import json
import math
import uuid
from typing import Any, Callable, Iterable, NamedTuple, Optional

from .errors import PolicyBusError

PROTOCOL_VERSION = 1

#: A row of a table: a tuple of JSON values.
Row = tuple[Any, ...]
#: A control reply (or any JSON object), as ``json.loads`` gives it.
Reply = dict[str, Any]
#: A request to send: its id and its frame.
Request = tuple[int, bytes]


class Change(NamedTuple):
    """One change to a subscribed table.

    ``kind`` is ``"snapshot"`` (the first contents after subscribing),
    ``"delta"`` (rows added and removed by one transaction at the publisher), or
    ``"resync"`` (a fresh snapshot after the client lost track; ``added`` and
    ``removed`` are then the difference from what the client had before, so a
    user who only applies ``added``/``removed`` stays correct).
    ``added`` and ``removed`` are lists of tuples. ``rows`` is a frozenset of
    all rows for snapshots and resyncs, ``None`` for deltas. ``seq`` is the
    table's sequence number after the change.
    """

    table: str
    kind: str
    added: list[Row]
    removed: list[Row]
    rows: Optional[frozenset[Row]]
    seq: int


SNAPSHOT = "snapshot"
DELTA = "delta"
RESYNC = "resync"

# Deltas buffered while a snapshot is awaited; past this the buffer is
# dropped and the sequence check after the snapshot asks for a fresh one.
BUFFER_LIMIT = 100_000

_new_change: Callable[[Iterable[Any]], Change] = Change._make  # a tuple constructor, fastest
_loads = json.loads


def error_code(reply: Reply) -> Optional[str]:
    """The code of an error reply, else None."""
    error = reply.get("error") if not reply.get("ok") else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, str) else None


def topic(table: str) -> bytes:
    """The SUB subscription prefix for a table: its name and one space."""
    return table.encode() + b" "


_HOST_SCHEMES = ("tcp", "ws", "wss")
_WILDCARD_HOSTS = ("*", "0.0.0.0", "[::]", "::", "")


def _address(endpoint: str) -> Optional[tuple[str, str, str, str]]:
    """``scheme://host:port/path`` as (scheme, host, port, path), or None."""
    scheme, sep, rest = endpoint.partition("://")
    if not sep or scheme not in _HOST_SCHEMES:
        return None
    authority, slash, path = rest.partition("/")
    host, colon, port = authority.rpartition(":")
    if not colon:
        return None
    return scheme, host, port, slash + path


def data_endpoint(advertised: str, control: str) -> str:
    """The data endpoint to connect to.

    A node bound to a wildcard host (``*``, ``0.0.0.0``, ``[::]``, ``::`` or
    nothing) advertises it; the client substitutes the host of the control
    endpoint it used, or 127.0.0.1 when that has none. The Swift client's
    ``DataEndpoint.resolve`` agrees: both are tested against
    ``Tests/Corpus/endpoints/data-endpoint.json``.
    """
    data = _address(advertised)
    if data is None or data[1] not in _WILDCARD_HOSTS:
        return advertised
    reached = _address(control)
    host = reached[1] if reached and reached[1] not in _WILDCARD_HOSTS else "127.0.0.1"
    return f"{data[0]}://{host}:{data[2]}{data[3]}"


class _Table:
    """What the client knows about one subscribed table."""

    __slots__ = ("name", "rows", "seq", "epoch", "synced", "ever_synced",
                 "buffer", "last", "requested", "live", "synced_by", "late", "timeouts", "snapshot_only",
                 "chunked", "chunk_sent")

    def __init__(self, name: str, now: float) -> None:
        self.name = name
        self.rows: set[Row] = set()
        self.seq = -1
        self.epoch: Any = None
        self.synced = False      # a snapshot is applied and deltas follow it
        self.ever_synced = False  # the next snapshot is a resync, not the first
        self.buffer: list[Any] = []  # data received while awaiting a snapshot
        self.last = now           # when we last heard of the table (or asked)
        self.requested: Optional[int] = None  # id of the subscribe request in flight
        self.live = False         # data arrived since the snapshot: our SUB subscription is in place
        self.synced_by = 0        # id of the subscribe request whose snapshot is applied
        self.late: set[int] = set()  # earlier, timed-out requests whose reply still counts
        self.timeouts = 0         # resync requests timed out in a row: the next waits longer
        self.snapshot_only = False  # a resume did not fit: ask for a snapshot next
        self.chunked: Optional[_Chunked] = None  # a chunked snapshot being read
        self.chunk_sent = -math.inf  # when its last snapshot-chunk request went


class _Chunked:
    """A snapshot larger than one chunk, read with ``snapshot-chunk`` one
    request at a time (docs/PROTOCOL.md, "Chunked snapshots")."""

    __slots__ = ("snapshot", "seq", "epoch", "total", "rows", "rid")

    def __init__(self, snapshot: str, seq: int, epoch: Any, total: int, rid: int) -> None:
        self.snapshot = snapshot
        self.seq = seq
        self.epoch = epoch
        self.total = total
        self.rows: list[Row] = []  # in order: the next offset is len(rows)
        self.rid = rid            # the subscribe request it answers


class Session:
    """The pure client state for one node: tables, sequence numbers, requests.

    The caller sets ``now`` (seconds, monotonic) before feeding events, calls
    ``on_data`` for every SUB frame and ``on_reply`` for every control reply,
    and calls ``tick()`` regularly (see ``tick_interval``) and whenever
    ``wants_send`` is true; ``tick`` returns the request frames to send.

    A resync request that gets no reply within ``request_timeout`` is sent
    again with twice the timeout, up to ``max_request_timeout``, and a late
    reply to any of them is taken (for ``2 * max_request_timeout``): a node
    slow to send a large snapshot is not asked for it again and again.

    A snapshot larger than one chunk (a ``chunked`` entry) is read with
    ``snapshot-chunk`` requests, one in flight per table, which ``tick``
    returns; the table's deltas buffer until the last chunk is in.
    """

    def __init__(self, control_endpoint: str, client_id: Optional[str] = None,
                 request_timeout: float = 3.0, max_request_timeout: float = 32.0) -> None:
        self.control_endpoint = control_endpoint
        self.client_id = client_id or uuid.uuid4().hex
        self.request_timeout = request_timeout
        self.max_request_timeout = max(max_request_timeout, request_timeout)
        self.now = 0.0
        self.heartbeat = 1.0      # seconds; the node's heartbeat_ms / 1000
        self.lease = 10.0         # seconds; the node's lease_ms / 1000
        self.node: Optional[str] = None  # the node's name, from hello
        self.epoch: Any = None    # the node's epoch, from the last reply
        self.data: Optional[str] = None  # data endpoint to connect to, once known
        self.sub_endpoint: Optional[str] = None  # where the caller's SUB is connected
        self.wants_send = False   # a resync is wanted: call tick() soon
        self.resyncs = 0          # how many resyncs so far (all tables)
        self.resumes = 0          # of which answered with the missed deltas (``since``)
        self.dropped = 0          # data frames for tables we do not follow
        self.bad_frames = 0       # malformed data frames (ignored, table resynced)
        self._tables: dict[bytes, _Table] = {}  # topic bytes (no space) -> _Table
        self._resync: set[bytes] = set()        # tables waiting for a resync request
        # request id -> (op, [table names], sent at)
        self._inflight: dict[int, tuple[str, list[str], float]] = {}
        self._next_id = 1
        self._last_request = -math.inf
        self._not_ready_until = -math.inf  # a node said not-ready: resync later
        self._chunk_requests: dict[int, bytes] = {}  # snapshot-chunk request id -> table key

    # MARK: - Requests

    def request(self, op: str, tables: Optional[Iterable[str]] = None, **fields: Any) -> Request:
        """Builds a control request; returns ``(id, frame)``.

        The request is recorded as in flight until its reply arrives or
        ``forget(id)`` is called.
        """
        rid = self._next_id
        self._next_id += 1
        body: Reply = {"op": op, "id": rid, "client": self.client_id}
        if tables is not None:
            body["tables"] = list(tables)
        body.update(fields)
        self._inflight[rid] = (op, list(tables or ()), self.now)
        self._last_request = self.now
        return rid, json.dumps(body, separators=(",", ":")).encode()

    def forget(self, rid: int) -> list[bytes]:
        """Stops waiting for a request's reply (a late reply is ignored).

        Returns the keys of the tables that were waiting for it: the caller
        must ask for them again, or nothing ever will.
        """
        entry = self._inflight.pop(rid, None)
        waiting = []
        if entry and entry[0] == "subscribe":
            for name in entry[1]:
                key = name.encode()
                st = self._tables.get(key)
                if st is not None and st.requested == rid:
                    st.requested = None
                    waiting.append(key)
        return waiting

    def add_tables(self, names: Iterable[str]) -> list[bytes]:
        """Starts following tables; returns the SUB prefixes to subscribe.

        Call before sending the ``subscribe`` request (rule 1).
        """
        prefixes = []
        for name in names:
            if not isinstance(name, str) or not name or " " in name:
                raise PolicyBusError("bad-table-name", f"bad table name {name!r}")
            key = name.encode()
            if key not in self._tables:
                self._tables[key] = _Table(name, self.now)
                prefixes.append(key + b" ")
        return prefixes

    def subscribe_request(self, names: list[str], since: Optional[dict[str, Any]] = None) -> Request:
        """The ``subscribe`` request for tables already added; ``(id, frame)``.
        ``since`` (one table): ``{"epoch": E, "seq": S}``, where its rows stand."""
        fields = {} if since is None else {"since": since}
        rid, frame = self.request("subscribe", tables=names, **fields)
        for name in names:
            st = self._tables[name.encode()]
            st.requested = rid
            st.last = self.now
        return rid, frame

    def remove_tables(self, names: Iterable[str]) -> list[bytes]:
        """Stops following tables; returns the SUB prefixes to unsubscribe."""
        prefixes = []
        for name in names:
            key = name.encode()
            if self._tables.pop(key, None) is not None:
                prefixes.append(key + b" ")
            self._resync.discard(key)
        return prefixes

    # MARK: - Reading state

    @property
    def tables(self) -> list[str]:
        """The names of the followed tables."""
        return [st.name for st in self._tables.values()]

    def rows(self, table: str) -> set[Row]:
        """A copy of a table's current rows (a set of tuples)."""
        st = self._tables.get(table.encode())
        if st is None:
            raise PolicyBusError("not-subscribed", f"not subscribed to {table}")
        return set(st.rows)

    def table_seq(self, table: str) -> int:
        """The last applied sequence number of a table (-1 before a snapshot)."""
        return self._tables[table.encode()].seq

    def all_synced(self) -> bool:
        """True when every followed table has a snapshot applied and no
        resync is wanted or in flight."""
        return not self._resync and all(st.synced and st.requested is None
                                        for st in self._tables.values())

    def all_live(self) -> bool:
        """True when every table is in sync and has had data (a delta or a
        heartbeat) since its snapshot, which proves the SUB subscription
        reached the publisher: from then on no delta can slip past unseen."""
        return self.all_synced() and all(st.live for st in self._tables.values())

    def resync_all(self) -> None:
        """Asks for fresh snapshots of every table, e.g. after the SUB moved
        to a new data endpoint (what was published before it connected there
        is lost)."""
        for key, st in self._tables.items():
            if st.requested is not None and st.ever_synced:
                self.forget(st.requested)
            st.late.clear()  # snapshots taken before the SUB moved
            if st.requested is None:
                st.synced = False
                st.buffer = []
                self._resync.add(key)
        self.wants_send = bool(self._resync)

    def data_move(self) -> Optional[tuple[str, str]]:
        """``(old, new)`` when the node's data endpoint, as its last reply
        gave it, differs from ``sub_endpoint``, where the SUB is connected;
        else None.

        A restarted node may have bound a new data port (docs/PROTOCOL.md,
        section 1). The caller moves its SUB from ``old`` to ``new``, then
        sends ``tick()``: every table is asked for afresh, since what was
        published before the SUB listened at ``new`` is lost to it.
        """
        old, new = self.sub_endpoint, self.data
        if old is None or new is None or new == old:
            return None
        self.sub_endpoint = new
        self.resync_all()
        return old, new

    def is_synced(self, table: str) -> bool:
        """True when the table has a snapshot applied and deltas follow it."""
        st = self._tables.get(table.encode())
        return st is not None and st.synced

    # MARK: - Data

    def on_data(self, frame: bytes) -> Optional[Change]:
        """Handles one frame from the SUB socket; returns a ``Change`` or None.

        This is the hot path: one partition, one ``json.loads``, one dict
        lookup for an exact topic match, and set updates with tuples.
        """
        name, _, body = frame.partition(b" ")
        st = self._tables.get(name)
        if st is None:
            # Not a table we follow (e.g. unsubscribed, or a prefix mismatch).
            self.dropped += 1
            return None
        st.last = self.now
        st.live = True
        try:
            msg = _loads(body)
            if not st.synced:
                buf = st.buffer
                if len(buf) < BUFFER_LIMIT:
                    buf.append(msg)
                else:
                    buf.clear()  # the sequence check after the snapshot resyncs
                return None
            if msg["type"] == "delta" and msg["seq"] == st.seq + 1 and msg["epoch"] == st.epoch:
                st.seq += 1
                rows = st.rows
                removed = msg["removed"]
                if removed:
                    removed = list(map(tuple, removed))
                    rows.difference_update(removed)
                added = msg["added"]
                if added:
                    added = list(map(tuple, added))
                    rows.update(added)
                return _new_change((st.name, DELTA, added, removed, None, st.seq))
            self._apply_other(st, msg)
        except (ValueError, KeyError, TypeError, AttributeError):
            self._bad_frame(st)
        return None

    def _bad_frame(self, st: _Table) -> None:
        """A malformed data message: count it, and resync the table, since
        it may have been applied halfway."""
        self.bad_frames += 1
        self._want_resync(st)
        return None

    def _apply_other(self, st: _Table, msg: Any) -> None:
        """Everything but an in-order delta, for a synced table."""
        kind = msg.get("type")
        if kind not in ("delta", "hb"):
            return None  # a message type from a later version: ignore it
        if msg.get("epoch") != st.epoch:
            # A restarted node has none of the old deltas: a snapshot, and
            # the tables of one node go in one request.
            st.snapshot_only = True
            self._want_resync(st)
            return None
        seq = msg.get("seq")
        if not isinstance(seq, int):
            return None
        if kind == "delta":
            if seq <= st.seq:
                return None  # already in the snapshot
            self._want_resync(st)  # a gap: at least one delta was lost
            return None
        if seq > st.seq:
            self._want_resync(st)  # a heartbeat ahead of us: we lost deltas
        return None

    def _apply_buffered(self, st: _Table, msg: Any) -> Optional[Change]:
        """One buffered message after a snapshot; stale ones are dropped."""
        if not isinstance(msg, dict):
            self._bad_frame(st)
            return None
        if msg.get("epoch") != st.epoch:
            return None  # from before the snapshot's publisher restarted
        if (msg.get("type") == "delta" and msg.get("seq") == st.seq + 1):
            try:
                removed = [tuple(r) for r in msg.get("removed") or ()]
                added = [tuple(r) for r in msg.get("added") or ()]
                st.rows.difference_update(removed)
                st.rows.update(added)
            except TypeError:
                self._bad_frame(st)
                return None
            st.seq += 1
            return _new_change((st.name, DELTA, added, removed, None, st.seq))
        self._apply_other(st, msg)
        return None

    def _want_resync(self, st: _Table) -> None:
        if st.synced:
            st.synced = False
            st.buffer = []
        if st.requested is None:
            self._resync.add(st.name.encode())
            self.wants_send = True

    # MARK: - Replies

    def on_reply(self, frame: bytes) -> tuple[Optional[int], Reply, list[Change]]:
        """Handles one control reply frame.

        Returns ``(id, reply, changes)``: the request id it answers (None if
        unknown or stale), the reply object, and the changes its snapshots
        cause. Raises ``PolicyBusError("bad-reply")`` for a frame that is not
        a JSON object.
        """
        try:
            reply = json.loads(frame)
        except (ValueError, UnicodeDecodeError) as err:
            raise PolicyBusError("bad-reply", f"reply is not JSON: {err}") from None
        if not isinstance(reply, dict):
            raise PolicyBusError("bad-reply", "reply is not a JSON object")
        rid = reply.get("id")
        entry = self._inflight.pop(rid, None) if isinstance(rid, int) else None
        if entry is None or not isinstance(rid, int):
            return None, reply, []
        op, names, _ = entry
        if reply.get("ok"):
            self._note_node(reply)
        changes: list[Change] = []
        if op == "subscribe":
            changes = self._on_subscribe_reply(rid, names, reply)
        elif op == "snapshot-chunk":
            changes = self._on_chunk(rid, reply)
        elif op == "renew" and reply.get("ok") and isinstance(reply.get("tables"), list):
            self._on_renew_reply(rid, reply["tables"])
        return rid, reply, changes

    def _on_renew_reply(self, rid: int, tables: list[Any]) -> None:
        """Resyncs tables the node no longer holds for us (lease expired, node
        restarted), among those subscribed before this renew was sent."""
        held = set(tables)
        for st in self._tables.values():
            if st.synced and st.synced_by < rid and st.name not in held:
                self._want_resync(st)

    def _note_node(self, reply: Reply) -> None:
        if isinstance(reply.get("heartbeat_ms"), (int, float)) and reply["heartbeat_ms"] > 0:
            self.heartbeat = reply["heartbeat_ms"] / 1000.0
        if isinstance(reply.get("lease_ms"), (int, float)) and reply["lease_ms"] > 0:
            self.lease = reply["lease_ms"] / 1000.0
        if isinstance(reply.get("name"), str):
            self.node = reply["name"]
        if "epoch" in reply:
            self.epoch = reply["epoch"]
        if isinstance(reply.get("data"), str):
            self.data = data_endpoint(reply["data"], self.control_endpoint)

    def _on_subscribe_reply(self, rid: int, names: list[str], reply: Reply) -> list[Change]:
        changes: list[Change] = []
        snapshots = reply.get("tables") if reply.get("ok") else None
        for name in names:
            st = self._tables.get(name.encode())
            if st is None or (st.requested != rid and rid not in st.late):
                continue  # unsubscribed meanwhile, or already answered
            entry = snapshots.get(name) if isinstance(snapshots, dict) else None
            if entry is None and rid in st.late:
                st.late.discard(rid)  # a late failure: the newer request decides
                continue
            st.requested = None
            st.late.clear()
            if entry is None:
                # Failed: retry later unless this was the first subscribe
                # (then the caller raises and removes the table). An engine
                # whose peer inputs are still syncing says not-ready: wait.
                if error_code(reply) == "not-ready":
                    self._not_ready_until = self.now + self.request_timeout
                if st.ever_synced:
                    self._resync.add(name.encode())
                    self.wants_send = True
                continue
            try:
                if isinstance(entry, dict) and isinstance(entry.get("chunked"), dict):
                    chunked = entry["chunked"]
                    if not isinstance(chunked.get("snapshot"), str) or not isinstance(chunked.get("rows"), int):
                        raise ValueError("bad chunked entry")
                    st.synced = False  # until the last chunk; deltas buffer meanwhile
                    st.chunked = _Chunked(chunked["snapshot"], entry["seq"], reply.get("epoch"), chunked["rows"], rid)
                    st.chunk_sent = -math.inf
                    self.wants_send = True
                    continue
                if isinstance(entry, dict) and entry.get("resumed") is True:
                    resumed = self._apply_resume(st, entry, reply.get("epoch"))
                    if resumed is None:
                        st.snapshot_only = True  # the deltas do not follow our rows
                        self._resync.add(name.encode())
                        self.wants_send = True
                        continue
                    changes.extend(resumed)
                else:
                    rows = set(map(tuple, entry.get("rows") or ()))  # may raise: nothing changed yet
                    changes.append(self._apply_snapshot(st, rows, entry.get("seq", 0), reply.get("epoch")))
                    st.snapshot_only = False
            except (TypeError, AttributeError, ValueError, KeyError):
                self.bad_frames += 1  # a malformed snapshot: ask again later
                self._resync.add(name.encode())
                self.wants_send = True
                continue
            changes.extend(self._synced(st, rid))
        return changes

    def _synced(self, st: _Table, rid: int) -> list[Change]:
        """The buffered deltas after a snapshot or resume, applied."""
        changes: list[Change] = []
        st.synced_by = rid
        st.timeouts = 0
        buffered, st.buffer = st.buffer, []
        st.live = bool(buffered)
        for msg in buffered:
            later = self._apply_buffered(st, msg)
            if later is not None:
                changes.append(later)
        return changes

    def chunk_requests(self) -> list[Request]:
        """The ``snapshot-chunk`` requests due: one per table being read,
        asked again from the same offset after a request timeout (a late
        reply to either is taken)."""
        out = []
        for key, st in self._tables.items():
            chunked = st.chunked
            if chunked is None or self.now - st.chunk_sent < self.request_timeout:
                continue
            rid, frame = self.request("snapshot-chunk", snapshot=chunked.snapshot, offset=len(chunked.rows))
            self._chunk_requests[rid] = key
            st.chunk_sent = self.now
            out.append((rid, frame))
        return out

    def _on_chunk(self, rid: int, reply: Reply) -> list[Change]:
        key = self._chunk_requests.pop(rid, None)
        st = self._tables.get(key) if key is not None else None
        chunked = st.chunked if st is not None else None
        if st is None or chunked is None:
            return []
        if not reply.get("ok"):
            self._restart_snapshot(st)  # snapshot-gone: the node dropped it or restarted
            return []
        rows, more = reply.get("rows"), reply.get("more")
        if reply.get("offset") != len(chunked.rows):
            return []  # a late duplicate of a chunk asked again
        try:
            chunked.rows.extend(map(tuple, rows))  # type: ignore[arg-type]
        except TypeError:
            self._restart_snapshot(st)
            return []
        if isinstance(more, int) and more > 0 and rows:
            st.chunk_sent = -math.inf  # the next chunk is due now
            self.wants_send = True
            return []
        whole = set(chunked.rows)
        st.chunked = None
        self._forget_chunks(st.name.encode())
        if more != 0 or len(chunked.rows) != chunked.total or len(whole) != chunked.total:
            self._restart_snapshot(st)
            return []
        st.snapshot_only = False
        return [self._apply_snapshot(st, whole, chunked.seq, chunked.epoch)] + self._synced(st, rid)

    def _forget_chunks(self, key: bytes) -> None:
        for rid in [r for r, k in self._chunk_requests.items() if k == key]:
            del self._chunk_requests[rid]
            self._inflight.pop(rid, None)

    def _restart_snapshot(self, st: _Table) -> None:
        """Drops a chunked snapshot being read and asks for a new one."""
        st.chunked = None
        self._forget_chunks(st.name.encode())
        st.snapshot_only = True
        self._resync.add(st.name.encode())
        self.wants_send = True

    def _apply_resume(self, st: _Table, entry: Any, epoch: Any) -> Optional[list[Change]]:
        """The missed deltas of a resumed reply, applied on top of the rows
        (one ``delta`` change each); None, changing nothing, if they do not
        follow the rows (then ask for a snapshot)."""
        deltas = entry["deltas"]
        seqs = [d["seq"] for d in deltas]
        if (epoch != st.epoch or seqs != list(range(st.seq + 1, st.seq + 1 + len(seqs)))
                or (seqs[-1] if seqs else st.seq) != entry.get("seq")):
            return None
        parsed = [(d["seq"], list(map(tuple, d["added"])), list(map(tuple, d["removed"]))) for d in deltas]
        changes = []
        for seq, added, removed in parsed:
            st.rows.difference_update(removed)
            st.rows.update(added)
            st.seq = seq
            changes.append(_new_change((st.name, DELTA, added, removed, None, seq)))
        st.synced = True
        st.last = self.now
        self.resyncs += 1
        self.resumes += 1
        return changes

    def _apply_snapshot(self, st: _Table, new: set[Row], seq: int, epoch: Any) -> Change:
        old = st.rows
        st.rows = new
        st.seq = seq
        st.epoch = epoch
        st.synced = True
        st.last = self.now
        if st.ever_synced:
            self.resyncs += 1
            return _new_change((st.name, RESYNC, list(new - old), list(old - new),
                                frozenset(new), st.seq))
        st.ever_synced = True
        return _new_change((st.name, SNAPSHOT, list(new), [], frozenset(new), st.seq))

    # MARK: - Timers

    def tick_interval(self) -> float:
        """How often to call ``tick`` when nothing arrives (seconds)."""
        return max(0.01, min(self.heartbeat / 4, self.lease / 12))

    def tick(self) -> list[Request]:
        """Decides what to send now; returns a list of ``(id, frame)``.

        Resyncs tables that fell behind or went silent, re-sends subscribe
        requests that got no reply, and renews the lease when due.
        """
        now = self.now
        out = []
        silent_after = 3 * self.heartbeat
        for key, st in self._tables.items():
            if st.requested is not None:
                if not st.ever_synced:
                    continue  # the caller of the first subscribe waits for it
                entry = self._inflight.get(st.requested)
                if entry is None or now - entry[2] > self._resync_timeout(st):
                    # Every table of the timed-out request, not just this one.
                    self._resync.update(self._time_out(st.requested))
                    self._resync.add(key)
            elif st.synced and now - st.last > silent_after:
                st.synced = False
                st.buffer = []
                self._resync.add(key)
        if self._resync and now >= self._not_ready_until:
            names = []
            for k in self._resync:
                resyncing = self._tables.get(k)
                if resyncing is None:
                    continue
                if resyncing.ever_synced and not resyncing.snapshot_only:
                    # Resume from where the rows stand: a request of its own.
                    since = {"epoch": resyncing.epoch, "seq": resyncing.seq}
                    out.append(self.subscribe_request([resyncing.name], since))
                else:
                    names.append(resyncing.name)
            self._resync.clear()
            if names:
                out.append(self.subscribe_request(names))
        out.extend(self.chunk_requests())
        self.wants_send = False
        if self._tables and now - self._last_request >= self.lease / 3:
            out.append(self.request("renew"))
        # Replies to renew are not awaited: drop stale ones from the books,
        # and give up on timed-out resync requests after twice the longest wait.
        for rid in [r for r, e in self._inflight.items()
                    if (e[0] == "renew" and now - e[2] > self.request_timeout)
                    or (e[0] in ("subscribe", "snapshot-chunk") and now - e[2] > 2 * self.max_request_timeout)]:
            del self._inflight[rid]
            self._chunk_requests.pop(rid, None)
            for st in self._tables.values():
                st.late.discard(rid)
        return out

    def _resync_timeout(self, st: _Table) -> float:
        """How long a table's resync request waits: doubled for each one
        that timed out in a row."""
        return min(self.request_timeout * (1 << min(st.timeouts, 16)), self.max_request_timeout)

    def _time_out(self, rid: int) -> list[bytes]:
        """Like ``forget``, but the request stays on the books: its reply,
        however late, is still taken. Returns the keys of the tables that
        were waiting for it, to ask for again."""
        entry = self._inflight.get(rid)
        if entry is None or entry[0] != "subscribe":
            return []
        waiting = []
        for name in entry[1]:
            key = name.encode()
            st = self._tables.get(key)
            if st is not None and st.requested == rid:
                st.requested = None
                st.late.add(rid)
                st.timeouts += 1
                waiting.append(key)
        return waiting
