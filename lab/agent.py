"""What a probe does from inside a namespace: DNS queries, TCP connects, SMTP sessions, and `openssl
s_client` judging the webmail certificate against a name it must not verify for.

The outside judgements (recursion, FCrDNS, banner, SPF, certificates, MTA-STS) are the audit's,
run as `python -m audit` in the namespaces (lab/audit_probes.py); the agent serves the probes
that need inside access or send mail.

The lab runs `ip netns exec <namespace> python -m lab.agent <action>` with the action's
arguments as JSON on stdin and reads one JSON result from stdout. An agent only observes and
reports (codes, flags, banners, addresses); the probes in lab/probes.py judge. A password is
read from the file it is given and never appears in a result.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dns.flags
import dns.message
import dns.query
import dns.rcode

from lab.mailauth_agent import ACTIONS as MAIL_AUTH_ACTIONS
from lab.webmail_agent import ACTIONS as WEBMAIL_ACTIONS


def dns_queries(server: str, queries: list[list[str]], source: str | None = None, timeout: float = 4.0,
                recursion_desired: bool = True, tries: int = 2) -> dict[str, Any]:
    """Each [name, type] asked of `server` over UDP: rcode, flags and the answer as text."""
    results = []
    for qname, qtype in queries:
        query = dns.message.make_query(qname, qtype)
        if not recursion_desired:
            query.flags &= ~dns.flags.RD
        entry: dict[str, Any] = {"name": qname, "type": qtype}
        for _ in range(tries):
            try:
                response = dns.query.udp(query, server, timeout=timeout, source=source)
            except dns.exception.Timeout:
                entry["error"] = f"no answer within {timeout:g} s"
                continue
            except OSError as error:
                entry["error"] = str(error)
                break
            entry.pop("error", None)
            entry.update(
                rcode=dns.rcode.to_text(response.rcode()),
                flags=dns.flags.to_text(response.flags).lower().split(),
                answer=[line for rrset in response.answer for line in rrset.to_text().splitlines()],
                authority=[line for rrset in response.authority for line in rrset.to_text().splitlines()],
            )
            break
        results.append(entry)
    return {"server": server, "source": source, "results": results}


def tcp(host: str, port: int, timeout: float = 4.0, source: str | None = None, read_banner: bool = True) -> dict:
    """Open a TCP connection: connected (with the first line the server says), refused/reset, or timeout."""
    started = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=timeout,
                                        source_address=(source, 0) if source else None)
    except ConnectionRefusedError:
        return {"outcome": "reset", "detail": "connection refused (TCP reset)", "seconds": time.monotonic() - started}
    except TimeoutError:
        return {"outcome": "timeout", "detail": f"no answer within {timeout:g} s"}
    except OSError as error:
        name = errno.errorcode.get(error.errno or 0, "")
        return {"outcome": "error", "detail": f"{name} {error.strerror or error}"}
    with sock:
        local = sock.getsockname()[0]
        banner = ""
        if read_banner:
            try:
                sock.settimeout(timeout)
                banner = sock.recv(512).decode(errors="replace").splitlines()[0]
            except (TimeoutError, OSError, IndexError):
                banner = ""
        return {"outcome": "connected", "local": local, "banner": banner}


def _password(path: str | None) -> str:
    return Path(path).read_text().strip() if path else ""


def smtp(host: str, port: int, helo: str, timeout: float = 15.0, starttls: bool = False,
         user: str | None = None, password_file: str | None = None,
         messages: list[dict[str, Any]] | None = None, source: str | None = None) -> dict[str, Any]:
    """One SMTP session, step by step, every server reply recorded; nothing raises past a step.

    `messages`: [{"from": addr, "to": [addr...], "subject": s, "size": bytes}] sent in turn;
    each records the reply to MAIL, to every RCPT and to DATA (when a recipient was accepted).
    """
    steps: list[dict[str, Any]] = []

    def record(step: str, code: int, text: bytes | str) -> tuple[int, str]:
        message = text.decode(errors="replace") if isinstance(text, bytes) else text
        steps.append({"step": step, "code": code, "text": " ".join(message.split())})
        return code, message

    try:
        client = smtplib.SMTP(timeout=timeout, source_address=(source, 0) if source else None)
        code, banner = client.connect(host, port)
        client._host = host  # what starttls() sends as SNI; only the constructor sets it
        record("banner", code, banner)
    except (OSError, smtplib.SMTPException) as error:
        return {"steps": steps, "error": f"connect: {error}"}
    try:
        record("ehlo", *client.ehlo(helo))
        auth_before_tls = "auth" in client.esmtp_features
        if starttls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # the lab's certificates are self-signed stand-ins
            record("starttls", *client.starttls(context=context))
            record("ehlo", *client.ehlo(helo))
        result: dict[str, Any] = {"auth_offered_before_tls": auth_before_tls,
                                  "auth_offered": "auth" in client.esmtp_features}
        if user:
            try:
                code, text = client.login(user, _password(password_file))
                record(f"auth as {user}", code, text)
            except smtplib.SMTPAuthenticationError as error:
                record(f"auth as {user}", error.smtp_code, error.smtp_error)
        for message in messages or []:
            record("mail from", *client.docmd("MAIL", f"FROM:<{message['from']}>"))
            accepted = 0
            for recipient in message["to"]:
                code, _ = record(f"rcpt to {recipient}", *client.docmd("RCPT", f"TO:<{recipient}>"))
                accepted += 200 <= code < 300
            if not accepted:
                client.rset()
                continue
            try:
                record("end of data", *client.data(_body(message)))
            except smtplib.SMTPDataError as refused:  # DATA itself refused
                record("data", refused.smtp_code, refused.smtp_error)
                client.rset()
        with contextlib.suppress(OSError, smtplib.SMTPException):
            client.quit()
        return {"steps": steps, **result}
    except (OSError, smtplib.SMTPException) as error:
        return {"steps": steps, "error": f"{type(error).__name__}: {error}"}


def _body(message: dict[str, Any]) -> bytes:
    headers = (f"From: <{message['from']}>\r\nTo: <{message['to'][0]}>\r\nSubject: {message.get('subject', 'lab')}\r\n"
               f"Message-ID: <{message.get('id', 'lab')}@lab>\r\n\r\n")
    size = int(message.get("size", 200))
    line = b"The ISP lab says hello; this line only fills the message up to its size.\r\n"
    body = (line * (size // len(line) + 1))[:size]
    # Lines of a message body must not start with a dot (SMTP transparency): ours never do.
    return headers.encode() + body


def _certificate_facts(der: bytes) -> dict[str, Any]:
    from cryptography import x509

    cert = x509.load_der_x509_certificate(der)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    return {"sha256": hashlib.sha256(der).hexdigest(), "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(), "san": names,
            "not_after": cert.not_valid_after_utc.isoformat()}


def openssl_verify(host: str, port: int, server_name: str, verify_name: str, cafile: str,
                   timeout: float = 8.0) -> dict[str, Any]:
    """`openssl s_client`: the handshake with SNI `server_name`, the certificate it got checked against
    `verify_name` (and the lab CA); the same certificate can so be judged against another name."""
    argv = ["openssl", "s_client", "-connect", f"{host}:{port}", "-servername", server_name,
            "-verify_hostname", verify_name, "-CAfile", cafile, "-showcerts"]
    try:
        done = subprocess.run(argv, input="", capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"outcome": "error", "detail": f"openssl s_client did not finish within {timeout:g} s"}
    code = re.search(r"Verify return code: (\d+) \((.*)\)", done.stdout)
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", done.stdout, re.S)
    result: dict[str, Any] = {"verify_code": int(code.group(1)) if code else None,
                              "verify_message": code.group(2) if code else (done.stderr.strip()[-200:] or "none")}
    if pem:
        result["certificate"] = _certificate_facts(ssl.PEM_cert_to_DER_cert(pem.group(0)))
    return result


ACTIONS = {"dns": dns_queries, "tcp": tcp, "smtp": smtp, "openssl_verify": openssl_verify, **MAIL_AUTH_ACTIONS,
           **WEBMAIL_ACTIONS}


def main(argv: list[str]) -> int:
    action = ACTIONS[argv[0]]
    arguments = json.loads(sys.stdin.read() or "{}")
    try:
        result = action(**arguments)
    except Exception as error:  # noqa: BLE001 - reported to the probe, which judges
        result = {"error": f"{type(error).__name__}: {error}"}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
