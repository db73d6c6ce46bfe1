"""CURVE keys for clients of a node started with ``--curve-secret-key``
(docs/SECURITY.md). Keys are 40-character Z85 strings, or files holding one,
as ``policybus keygen`` writes them (``NAME.key`` secret, ``NAME.pub`` public).
"""

from __future__ import annotations

import os
import stat
from typing import Any, Optional, Union

import zmq
import zmq.utils.z85

from .errors import PolicyBusError

#: A key: a Z85 string, or the path of a file holding one (str or bytes).
Key = Union[str, bytes]


def read_key(value: Key, secret: bool = False) -> bytes:
    """A Z85 key as bytes, from the key itself or from a key file.

    A secret key file must not be readable by group or others (code
    ``key-too-open``, as ssh does); a malformed key has code ``bad-key``.
    """
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = value.strip()
    if len(text) != 40 or os.path.exists(text):  # ('/' is a Z85 character too)
        try:
            mode = os.stat(text).st_mode
        except OSError as err:
            raise PolicyBusError("bad-key", f"{value!r} is neither a Z85 key nor a readable key file: {err}") from None
        if secret and mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PolicyBusError("key-too-open", f"{text} is accessible by group or others; chmod 600 it")
        with open(text) as f:
            text = f.read().strip()
    if len(text) != 40:
        raise PolicyBusError("bad-key", "a CURVE key is 40 characters of Z85")
    try:
        zmq.utils.z85.decode(text)
    except (ValueError, KeyError):
        raise PolicyBusError("bad-key", "a CURVE key is 40 characters of Z85") from None
    return text.encode("ascii")


class Curve:
    """The CURVE settings a client applies to each of its sockets."""

    def __init__(self, server_key: Key, public_key: Optional[Key] = None,
                 secret_key: Optional[Key] = None) -> None:
        self.server_key = read_key(server_key)
        if public_key is None and secret_key is None:
            # No key pair: a fresh one per client. Enough when the node has no
            # allow-list (traffic is still encrypted, the server authenticated).
            self.public_key, self.secret_key = zmq.curve_keypair()
        elif public_key is None or secret_key is None:
            raise PolicyBusError("bad-key", "give both public_key and secret_key, or neither")
        else:
            self.public_key = read_key(public_key)
            self.secret_key = read_key(secret_key, secret=True)

    @classmethod
    def make(cls, server_key: Optional[Key], public_key: Optional[Key],
             secret_key: Optional[Key]) -> Optional[Curve]:
        """None when no server key is given (plaintext)."""
        if server_key is None:
            if public_key is not None or secret_key is not None:
                raise PolicyBusError("bad-key", "a client key pair needs server_key too")
            return None
        return cls(server_key, public_key, secret_key)

    def apply(self, sock: zmq.Socket[Any]) -> None:
        """Sets the socket up as a CURVE client; call before connect."""
        sock.curve_serverkey = self.server_key
        sock.curve_publickey = self.public_key
        sock.curve_secretkey = self.secret_key
