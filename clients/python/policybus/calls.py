"""The control calls, without sockets: what each one sends and what it returns.

The blocking ``policybus.Client`` and the asyncio ``policybus.aio.Client`` are
two thin drivers over this module (and ``policybus.protocol.Session``, which
numbers the requests and matches the replies). A driver turns a ``Call`` into a
request, sends it, waits for the reply that answers it, and hands that reply to
``checked`` and then to ``Call.read``. Which fields an op takes and what the
caller gets back are decided here, once.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Generator, Generic, Union, Iterable, Mapping, Optional, Sequence, TypeVar

from .errors import PolicyBusError, PolicyBusTimeout
from .protocol import Reply, Row

T = TypeVar("T")


class Call(Generic[T]):
    """One control call: the op, its fields, and how to read its reply."""

    __slots__ = ("op", "fields", "read")

    def __init__(self, op: str, read: Callable[[Reply], T], **fields: Any) -> None:
        self.op = op
        self.fields = fields
        #: Turns the checked reply (``ok: true``) into what the caller gets.
        self.read = read


def _whole(reply: Reply) -> Reply:
    return reply


def _rows(reply: Reply) -> set[Row]:
    return set(map(tuple, reply.get("rows", ())))


def _tables(reply: Reply) -> list[Reply]:
    tables: list[Reply] = reply.get("tables", [])
    return tables


def _rules(reply: Reply) -> list[Any]:
    rules: list[Any] = reply.get("rules", [])
    return rules


def _policies(reply: Reply) -> list[Reply]:
    policies: list[Reply] = reply.get("policies", [])
    return policies


def _deltas(reply: Reply) -> list[Reply]:
    deltas: list[Reply] = reply.get("deltas", [])
    return deltas


def hello() -> Call[Reply]:
    """The node's name, kind, protocol version, data endpoint and timers."""
    return Call("hello", _whole)


def _page(offset: int, limit: Optional[int]) -> dict[str, int]:
    """``offset`` and ``limit`` fields, each only when given (PROTOCOL.md section 4).

    A reply over the node's size limit is refused with ``reply-too-large``:
    ask for pages then, until one holds fewer than ``limit`` items."""
    if offset < 0 or (limit is not None and limit < 0):
        raise ValueError("offset and limit must not be negative")
    page = {"offset": offset} if offset else {}
    if limit is not None:
        page["limit"] = limit
    return page


def query(text: str, offset: int = 0, limit: Optional[int] = None) -> Call[set[Row]]:
    """Rows matching ``text`` (``"alice:error(x)"`` or a bare table name):
    all, or ``limit`` of them after the first ``offset`` in sorted order."""
    return Call("query", _rows, query=text, **_page(offset, limit))


#: Rows per page when a whole reply is too large for the node (as the CLI's).
FIRST_PAGE_ROWS = 10_000

#: Calls to make one after another, each chosen after the reply (or the
#: node's error) to the one before; the generator's return value is the result.
Plan = Generator[Call[Reply], Reply, T]

#: What a call came to: the node's reply, or its error.
Outcome = Union[Reply, PolicyBusError]


class Steps(Generic[T]):
    """A plan in progress, for a driver: make ``call`` while it is not None,
    hand its ``outcome`` to ``answer``, then take ``result()``."""

    def __init__(self, plan: Plan[T]) -> None:
        self._plan = plan
        self.call: Optional[Call[Reply]] = None
        self._result: list[T] = []
        self._advance(lambda: next(plan))

    def answer(self, outcome: Outcome) -> None:
        """Hands the plan the reply to its call, or raises the node's error in it."""
        if isinstance(outcome, PolicyBusError):
            self._advance(lambda: self._plan.throw(outcome))
        else:
            self._advance(lambda: self._plan.send(outcome))

    def result(self) -> T:
        return self._result[0]

    def _advance(self, step: Callable[[], Call[Reply]]) -> None:
        try:
            self.call = step()
        except StopIteration as done:
            self.call = None
            self._result.append(done.value)


def outcome(call: Callable[[], Reply]) -> Outcome:
    try:
        return call()
    except PolicyBusError as error:
        return error


async def outcome_of(reply: Awaitable[Reply]) -> Outcome:
    try:
        return await reply
    except PolicyBusError as error:
        return error


def all_rows(text: str, offset: int = 0) -> Plan[set[Row]]:
    """Every row matching ``text`` from ``offset``: one request, or, when the
    node refuses a reply that large (``reply-too-large``), pages of it, halved
    while a page is still too large. Rows that change meanwhile shift the
    pages (PROTOCOL.md section 4, ``query``)."""
    try:
        return _rows((yield Call("query", _whole, query=text, **_page(offset, None))))
    except PolicyBusError as error:
        if error.code != "reply-too-large":
            raise
    rows: set[Row] = set()
    position, page_rows = offset, FIRST_PAGE_ROWS
    while True:
        try:
            reply = yield Call("query", _whole, query=text, **_page(position, page_rows))
        except PolicyBusError as error:
            if error.code != "reply-too-large" or page_rows == 1:
                raise
            page_rows //= 2
            continue
        page = reply.get("rows", [])
        rows.update(map(tuple, page))
        position += len(page)
        if not reply.get("more", 0) or not page:
            return rows


def tables(offset: int = 0, limit: Optional[int] = None) -> Call[list[Reply]]:
    """The node's tables: dicts with name, columns, seq, rows, subscribers;
    all, or a page of them."""
    return Call("tables", _tables, **_page(offset, limit))


def status(offset: int = 0, limit: Optional[int] = None) -> Call[Reply]:
    """The node's status: a page of its clients (100 unless ``limit`` says),
    published tables and (engines) triggers, with ``subscriptions_more``,
    ``tables_more`` and ``triggers_more`` counting the rest; counters."""
    return Call("status", _whole, **_page(offset, limit))


def rules(policy: str) -> Call[list[Any]]:
    """The rules of a policy (engines), as the node reports them."""
    return Call("rules", _rules, action="list", policy=policy)


def insert_rule(policy: str, rule: str) -> Call[Reply]:
    """Adds a rule (text) to a policy."""
    return Call("rules", _whole, action="insert", policy=policy, rule=rule)


def delete_rule(policy: str, rule: str) -> Call[Reply]:
    """Deletes a rule (text, or the id the node gave it) from a policy."""
    return Call("rules", _whole, action="delete", policy=policy, rule=rule)


def create_policy(name: str, rules: Optional[str] = None) -> Call[Reply]:
    """Creates a policy at an engine (durable like rules), empty or starting
    with ``rules`` (policy text) in the same transaction; ``policy-exists``
    if it is there already."""
    fields = {"rule": rules} if rules is not None else {}
    return Call("policy-create", _whole, name=name, **fields)


def delete_policy(name: str) -> Call[Reply]:
    """Deletes a policy with its rules and facts, in one transaction;
    ``policy-in-use`` while another policy's rules read its tables."""
    return Call("policy-delete", _whole, name=name)


def policies() -> Call[list[Reply]]:
    """The engine's policies: dicts with name and rules (a count)."""
    return Call("policy-list", _policies)


def simulate(changes: Iterable[Mapping[str, Any]], tables: Iterable[str]) -> Call[list[Reply]]:
    """What ``changes`` (each a ``rules`` insert/delete or ``facts`` request
    as a dict with ``op``, without ``id``) would do to ``tables`` at an
    engine, as one transaction: a list of ``{"table", "added", "removed"}``,
    one per table in order. The engine is left exactly as it was."""
    return Call("simulate", _deltas, changes=[dict(c) for c in changes], tables=list(tables))


def insert_facts(table: str, rows: Iterable[Sequence[Any]]) -> Call[Reply]:
    """Inserts rows into a policy table (engines), e.g. ``"alice:q"``."""
    return Call("facts", _whole, action="insert", table=table, rows=[list(r) for r in rows])


def delete_facts(table: str, rows: Iterable[Sequence[Any]]) -> Call[Reply]:
    """Deletes rows from a policy table (engines)."""
    return Call("facts", _whole, action="delete", table=table, rows=[list(r) for r in rows])


def checked(reply: Reply, endpoint: Optional[str] = None) -> Reply:
    """The reply itself when it says ``ok: true``; otherwise raises
    ``PolicyBusError`` with the node's code (or ``bad-reply``)."""
    if reply.get("ok") is True:
        return reply
    err = reply.get("error")
    if isinstance(err, dict):
        raise PolicyBusError(str(err.get("code", "unknown")), str(err.get("message", "")), reply,
                             endpoint=endpoint)
    raise PolicyBusError("bad-reply", f"reply without ok: {reply!r}", reply, endpoint=endpoint)


def unsent(endpoint: str) -> PolicyBusTimeout:
    """The error for a request that could not even be queued: the node has
    not taken the requests sent before it (it is down or stuck)."""
    return PolicyBusTimeout(f"no reply from {endpoint}: the queue of requests to it is full",
                            endpoint=endpoint)


def timed_out(endpoint: str, seconds: float) -> PolicyBusTimeout:
    """The error for a request that got no reply in ``seconds``."""
    return PolicyBusTimeout(f"no reply from {endpoint} in {seconds}s", endpoint=endpoint)
