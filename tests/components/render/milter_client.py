"""A minimal milter client (the MTA's side of the Sendmail milter protocol, version 6), enough to hand one
message to a running filter the way Postfix's smtpd does and collect the headers it adds.

Packets are a 4-byte big-endian length, a command byte and its data; strings end in NUL. Offering no
"no reply" protocol flags, every command but a macro definition gets one reply (libmilter's mfdef.h).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

_VERSION = 6
_ALL_ACTIONS = 0x1FF  # add/change headers, body, recipients, quarantine, ...
_CONTINUE, _ACCEPT = b"c", b"a"
_ADD_HEADER, _INSERT_HEADER = b"h", b"i"


@dataclass(frozen=True)
class Envelope:
    client_address: str
    sender: str
    recipient: str
    headers: list[tuple[str, str]]
    body: str
    auth_user: str | None = None  # SMTP AUTH login: Postfix passes {auth_type} and {auth_authen}


def _strings(*values: str) -> bytes:
    return b"".join(value.encode() + b"\0" for value in values)


class MilterClient:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 10) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)

    def close(self) -> None:
        self._sock.close()

    def _send(self, command: bytes, data: bytes = b"") -> None:
        self._sock.sendall(struct.pack(">I", len(data) + 1) + command + data)

    def _receive(self) -> tuple[bytes, bytes]:
        size = struct.unpack(">I", self._exactly(4))[0]
        packet = self._exactly(size)
        return packet[:1], packet[1:]

    def _exactly(self, size: int) -> bytes:
        chunks = b""
        while len(chunks) < size:
            chunk = self._sock.recv(size - len(chunks))
            if not chunk:
                raise ConnectionError("the filter closed the connection")
            chunks += chunk
        return chunks

    def _expect_continue(self, step: str) -> None:
        reply, data = self._receive()
        if reply != _CONTINUE:
            raise AssertionError(f"the filter answered {reply!r} {data!r} to {step}")

    def _macros(self, command: bytes, **macros: str) -> None:
        names = {name: f"{{{name}}}" if len(name) > 1 else name for name in macros}
        self._send(b"D", command + b"".join(_strings(names[k], v) for k, v in macros.items()))

    def send(self, envelope: Envelope) -> list[tuple[str, str]]:
        """One message through the filter; the headers it adds or inserts, in the order it sent them."""
        self._send(b"O", struct.pack(">III", _VERSION, _ALL_ACTIONS, 0))
        reply, _ = self._receive()
        assert reply == b"O", reply
        self._macros(b"C", j="mail.isp.test", daemon_name="smtpd")
        family = b"6" if ":" in envelope.client_address else b"4"
        self._send(b"C", _strings("client.example") + family + struct.pack(">H", 40000)
                   + _strings(envelope.client_address))
        self._expect_continue("CONNECT")
        self._send(b"H", _strings("client.example"))
        self._expect_continue("HELO")
        mail_macros = {"i": "4ABCDE"}
        if envelope.auth_user:
            mail_macros |= {"auth_type": "PLAIN", "auth_authen": envelope.auth_user}
        self._macros(b"M", **mail_macros)
        self._send(b"M", _strings(f"<{envelope.sender}>"))
        self._expect_continue("MAIL FROM")
        self._send(b"R", _strings(f"<{envelope.recipient}>"))
        self._expect_continue("RCPT TO")
        for name, value in envelope.headers:
            self._send(b"L", _strings(name, value))
            self._expect_continue(f"header {name}")
        self._send(b"N")
        self._expect_continue("end of headers")
        self._send(b"B", envelope.body.encode())
        self._expect_continue("body")
        self._send(b"E")
        added: list[tuple[str, str]] = []
        while True:
            reply, data = self._receive()
            if reply in (_ADD_HEADER, _INSERT_HEADER):
                fields = (data[4:] if reply == _INSERT_HEADER else data).split(b"\0")
                added.append((fields[0].decode(), fields[1].decode()))
            elif reply in (_ACCEPT, _CONTINUE):
                break
            elif reply not in (b"m", b"p"):  # a header change, a progress report
                raise AssertionError(f"the filter answered {reply!r} {data!r} at end of message")
        self._send(b"Q")
        return added
