"""PolicyBus client: follow policy tables (snapshot, then deltas) over ZeroMQ.

::

    import policybus

    with policybus.Subscriber("tcp://127.0.0.1:5555") as sub:
        sub.subscribe("alice:error")
        for change in sub:
            print(change.table, change.kind, change.added, change.removed)

``policybus.aio.Client`` and ``policybus.aio.Subscriber`` are the same on
asyncio (``zmq.asyncio``). The protocol is docs/PROTOCOL.md; its rules live in
``policybus.protocol``, and the control calls in ``policybus.calls``.
"""

from .client import Client, Subscriber
from .errors import PolicyBusError, PolicyBusTimeout
from .protocol import DELTA, PROTOCOL_VERSION, RESYNC, SNAPSHOT, Change

__all__ = [
    "Change", "Client", "Subscriber", "PolicyBusError", "PolicyBusTimeout",
    "SNAPSHOT", "DELTA", "RESYNC", "PROTOCOL_VERSION",
]
__version__ = "0.1.0"
