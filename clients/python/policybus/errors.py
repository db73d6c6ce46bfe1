"""Exceptions raised by the PolicyBus client."""

from __future__ import annotations

from typing import Any, Optional


class PolicyBusError(Exception):
    """An error from a PolicyBus node or from the client itself.

    ``code`` is the stable error code: the server's (``unknown-policy``,
    ``syntax-error``, ...) or one of the client's own (``timeout``,
    ``bad-reply``, ``closed``, ``bad-endpoint``, ``transport``).
    """

    def __init__(self, code: str, message: str, reply: Optional[dict[str, Any]] = None,
                 endpoint: Optional[str] = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        #: The full reply object from the server, if there was one.
        self.reply = reply
        #: The endpoint the failing call went to, when the client knows it.
        self.endpoint = endpoint


class PolicyBusTimeout(PolicyBusError):
    """A control request got no reply in time (code ``timeout``)."""

    def __init__(self, message: str, endpoint: Optional[str] = None) -> None:
        super().__init__("timeout", message, endpoint=endpoint)
