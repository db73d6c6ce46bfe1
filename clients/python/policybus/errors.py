"""Exceptions raised by the PolicyBus client."""


class PolicyBusError(Exception):
    """An error from a PolicyBus node or from the client itself.

    ``code`` is the stable error code: the server's (``unknown-policy``,
    ``syntax-error``, ...) or one of the client's own (``timeout``,
    ``bad-reply``, ``closed``).
    """

    def __init__(self, code, message, reply=None):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        #: The full reply object from the server, if there was one.
        self.reply = reply


class PolicyBusTimeout(PolicyBusError):
    """A control request got no reply in time (code ``timeout``)."""

    def __init__(self, message):
        super().__init__("timeout", message)
