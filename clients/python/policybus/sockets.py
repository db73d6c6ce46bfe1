"""Socket set-up shared by the blocking and asyncio drivers, and the rule that
no raw ``zmq.ZMQError`` reaches a caller: each becomes a ``PolicyBusError``
that names the endpoint (code ``bad-endpoint`` when ZeroMQ cannot connect to
it at all, ``transport`` for any other socket failure)."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, Optional, TypeVar

import zmq

from .errors import PolicyBusError
from .keys import Curve

S = TypeVar("S", bound="zmq.Socket[Any]")


@contextlib.contextmanager
def zmq_errors(endpoint: str) -> Iterator[None]:
    """Turns a ``zmq.ZMQError`` raised inside into a ``PolicyBusError``."""
    try:
        yield
    except zmq.ZMQError as err:
        raise PolicyBusError("transport", f"{endpoint}: {err}", endpoint=endpoint) from err


def connect(sock: zmq.Socket[Any], endpoint: str) -> None:
    """Connects, or raises ``bad-endpoint`` for an endpoint ZeroMQ refuses
    (no port, an unknown transport, ...). An endpoint nobody listens on is
    not an error here: ZeroMQ keeps trying, and the request times out."""
    try:
        sock.connect(endpoint)
    except zmq.ZMQError as err:
        raise PolicyBusError("bad-endpoint", f"cannot connect to {endpoint!r}: {err}",
                             endpoint=endpoint) from err


def send(sock: zmq.Socket[Any], frame: bytes) -> bool:
    """Sends without blocking; False when the queue to the peer is full.

    A DEALER queues requests for a node that is down (up to its high-water
    mark, 1000) and then blocks. A client that keeps renewing and resyncing
    against a dead node gets there in half an hour, and a blocking send would
    then hang the caller (or, on asyncio, the whole event loop).
    """
    try:
        sock.send(frame, zmq.NOBLOCK)
        return True
    except zmq.Again:
        return False


def disconnect(sock: zmq.Socket[Any], endpoint: str) -> None:
    """Disconnects ``sock`` from ``endpoint``, where it may not be connected."""
    try:
        sock.disconnect(endpoint)
    except zmq.ZMQError:
        pass  # not connected there (ENOENT): nothing to undo


def dealer(ctx: zmq.Context[S], endpoint: str, curve: Optional[Curve]) -> S:
    """A DEALER for control requests, connected to ``endpoint``."""
    with zmq_errors(endpoint):
        sock = ctx.socket(zmq.DEALER)
    try:
        with zmq_errors(endpoint):
            sock.linger = 0
            if curve:
                curve.apply(sock)
        connect(sock, endpoint)
    except PolicyBusError:
        sock.close(linger=0)
        raise
    return sock


def subscriber(ctx: zmq.Context[S], endpoint: str, curve: Optional[Curve],
               rcvhwm: Optional[int] = None, rcvbuf: Optional[int] = None) -> S:
    """A SUB for data messages, not yet connected (subscribe it first)."""
    with zmq_errors(endpoint):
        sock = ctx.socket(zmq.SUB)
        try:
            sock.linger = 0
            if rcvhwm is not None:
                sock.rcvhwm = rcvhwm
            if rcvbuf is not None:
                sock.rcvbuf = rcvbuf  # the kernel's buffer (SO_RCVBUF)
            if curve:
                curve.apply(sock)  # the data socket is a CURVE server too
        except zmq.ZMQError:
            sock.close(linger=0)
            raise
    return sock


def connect_and_wait(sock: zmq.Socket[Any], endpoint: str, timeout: float) -> None:
    """Connects and waits (briefly, blocking) for the ZMTP handshake.

    The snapshot must not be taken before our SUB subscription reaches the
    publisher (zguide's late-joiner race). Waiting for the handshake makes
    that rare; sequence numbers and heartbeats catch what is left.
    """
    with zmq_errors(endpoint):
        monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_SUCCEEDED)
        try:
            connect(sock, endpoint)
            if monitor.poll(int(timeout * 1000)):
                monitor.recv_multipart()
        finally:
            sock.disable_monitor()
            monitor.close(linger=0)
