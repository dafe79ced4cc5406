"""`Net.smtp`: one polite SMTP session as a sending MTA would start it, every reply recorded.

Greeting (RFC 5321 §4.2), EHLO (§4.1.1.1), STARTTLS (RFC 3207) or TLS from the first byte (RFC 8314),
EHLO again after TLS (RFC 3207 §4.2: the server forgets what it said before), AUTH advertised before
and after TLS, optionally MAIL FROM and RCPT TO then RSET, and QUIT. Never DATA: the audit sends no
mail. When the certificate does not verify, the session is run once more without verification so
the certificate's names and dates are still reported (and the EHLO after TLS).
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
import ssl

from audit.net import REPLY_LINE_LIMIT, Certificate, Net, SmtpSession, certificate_facts, describe_error

MAX_REPLY_LINES = 100  # a reply longer than this is garbage, not an EHLO list


class _Garbage(Exception):
    """The server said something that is not an SMTP reply."""


class _NoGreeting(Exception):
    """Nothing (or a timeout) before the greeting: worth another try."""


class _Unverified(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class _Session:
    def __init__(self, net: Net, address: str, port: int, *, helo: str, starttls: bool, implicit_tls: bool,
                 server_name: str, cafile: str | None, rcpt: tuple[str, str] | None, verify: bool):
        self.net, self.address, self.port = net, address, port
        self.helo, self.starttls, self.implicit_tls = helo, starttls, implicit_tls
        self.server_name, self.cafile, self.rcpt, self.verify = server_name, cafile, rcpt, verify
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.transcript: list[str] = []
        self.facts: dict = {}

    # ------------------------------------------------------------------------------------- wire

    def _line(self) -> str:
        assert self.sock is not None
        while b"\n" not in self.buffer:
            if len(self.buffer) > REPLY_LINE_LIMIT:
                raise _Garbage(f"a line longer than {REPLY_LINE_LIMIT} bytes")
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionResetError("the server closed the connection")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.rstrip(b"\r").decode(errors="replace")

    def reply(self) -> tuple[int, list[str]]:
        """One reply (RFC 5321 §4.2: "NNN-text" lines ending with "NNN text"): its code and texts."""
        texts: list[str] = []
        while len(texts) < MAX_REPLY_LINES:
            line = self._line()
            self.transcript.append(f"< {line}")
            code = line[:3]
            if not code.isdigit() or (len(line) > 3 and line[3] not in " -"):
                raise _Garbage(f"not an SMTP reply: {line[:80]!r}")
            texts.append(line[4:])
            if len(line) == 3 or line[3] == " ":
                return int(code), texts
        raise _Garbage(f"a reply of more than {MAX_REPLY_LINES} lines")

    def command(self, text: str) -> tuple[int, list[str]]:
        assert self.sock is not None
        self.transcript.append(f"> {text}")
        self.sock.sendall(f"{text}\r\n".encode())
        return self.reply()

    def _tls(self) -> None:
        """Wrap the socket; the certificate's facts, or _Unverified (the caller runs again unverified)."""
        assert self.sock is not None
        self.buffer = b""  # bytes sent before the handshake are not trusted after it (RFC 3207 §6)
        context = self.net.tls_context(self.cafile, verify=self.verify)
        try:
            self.sock = context.wrap_socket(self.sock, server_hostname=self.server_name)
        except ssl.SSLCertVerificationError as failure:
            raise _Unverified(f"{failure.verify_message} ({failure.reason})") from None
        target = f"{self.net.target_text(self.address, self.port)} SNI {self.server_name}"
        self.facts["certificate"] = certificate_facts(target, self.sock.getpeercert(binary_form=True),
                                                      verified=self.verify)
        self.facts["tls"] = True
        self.transcript.append(f"-- TLS {self.sock.version()} established, certificate "
                               f"{'verified' if self.verify else 'read without verification'}")

    # ---------------------------------------------------------------------------------- dialogue

    def _ehlo(self, key: str) -> list[str]:
        code, texts = self.command(f"EHLO {self.helo}")
        if code != 250:
            raise _Garbage(f"EHLO refused: {code} {' '.join(texts)}")
        keywords = [t.split()[0].upper() for t in texts[1:] if t.split()]
        self.facts[key] = any(k == "AUTH" or k.startswith("AUTH=") for k in keywords)
        return texts

    def run(self) -> None:
        try:
            self.sock = self.net.open(self.address, self.port)
        except TimeoutError:
            raise _NoGreeting("connect: timeout") from None
        try:
            if self.implicit_tls:
                self._tls()
            try:
                code, texts = self.reply()
            except TimeoutError:
                raise _NoGreeting("no greeting: timeout") from None
            self.facts["banner"] = f"{code} {texts[0]}" if texts else str(code)
            if code != 220:  # RFC 5321 §3.1: 554 here means no service; say QUIT and go
                self.facts["error"] = f"greeting {code}, not 220"
                with contextlib.suppress(OSError, _Garbage):  # it may well hang up first
                    self.command("QUIT")
                return
            before = self._ehlo("auth_before_tls")
            self.facts["ehlo"] = tuple(before)
            if self.implicit_tls:
                self.facts["auth_after_tls"] = self.facts["auth_before_tls"]
                self.facts["ehlo_after_tls"] = tuple(before)
            else:
                offered = any(t.split()[:1] == ["STARTTLS"] for t in (x.upper() for x in before[1:]))
                self.facts["starttls_offered"] = offered
                if self.starttls and offered:
                    code, texts = self.command("STARTTLS")
                    if code == 220:
                        self._tls()
                        after = self._ehlo("auth_after_tls")
                        self.facts["ehlo_after_tls"] = tuple(after)
                        self.facts["ehlo"] = (*before, *after)
                    else:
                        self.facts["error"] = f"STARTTLS refused: {code} {' '.join(texts)}"
            if self.rcpt:
                code, _ = self.command(f"MAIL FROM:<{self.rcpt[0]}>")
                self.facts["mail_code"] = code
                if code == 250:
                    self.facts["rcpt_code"], _ = self.command(f"RCPT TO:<{self.rcpt[1]}>")
                self.command("RSET")  # nothing is sent: the transaction is dropped
            self.command("QUIT")
        finally:
            self.sock.close()


def smtp_session(net: Net, host: str, port: int, *, helo: str, starttls: bool, implicit_tls: bool = False,
                 server_name: str, cafile: str | None, rcpt: tuple[str, str] | None = None) -> SmtpSession:
    address = net.allow(host)
    mode = "implicit TLS" if implicit_tls else ("STARTTLS" if starttls else "plain")
    target = f"{net.target_text(address, port)} {mode} SNI {server_name}"
    transcript: list[str] = []
    verify, reason, error = True, "", "no try made"
    options = dict(helo=helo, starttls=starttls, implicit_tls=implicit_tls, server_name=server_name,
                   cafile=cafile, rcpt=rcpt)
    tries = 0
    while tries < net.tries:
        session = _Session(net, address, port, verify=verify, **options)
        try:
            session.run()
        except _NoGreeting as failure:
            tries += 1
            error = str(failure)
            transcript += [*session.transcript, f"-- {failure}"]
            continue
        except _Unverified as failure:  # only a verifying session raises it, so this happens once
            reason, verify = failure.reason, False
            transcript += [*session.transcript, f"-- certificate not verified: {reason}; "
                                                "again without verification, to read it"]
            continue
        except (_Garbage, OSError, ssl.SSLError, ValueError) as failure:
            session.facts["error"] = describe_error(failure) if not isinstance(failure, _Garbage) else str(failure)
        transcript += session.transcript
        facts = session.facts
        certificate: Certificate | None = facts.pop("certificate", None)
        if certificate is not None and reason:
            certificate = dataclasses.replace(certificate, verify_error=reason)
        return SmtpSession(target, certificate=certificate, transcript=tuple(transcript), **facts)
    return SmtpSession(target, error=f"{error} ({net.tries} tries, {net.timeout:g} s each)",
                       transcript=tuple(transcript))
