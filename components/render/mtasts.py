"""MTA-STS (RFC 8461) and TLS-RPT (RFC 8460): the policy file and the two TXT records. Pure text.

The policy (RFC 8461 §3.2) is served at https://mta-sts.<domain>/.well-known/mta-sts.txt; the TXT
record at `_mta-sts.<domain>` (§3.1) carries an id that senders compare with the one they cached: it
must change whenever the policy does, or senders keep an old policy (and its old mx: lines) for up to
max_age. Here the id is derived from the policy text itself, so it changes exactly when the policy
does, and the same policy gets the same id on any day.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from typing import Any

from components.render import quoting

MTA_STS_MODES = ("enforce", "testing", "none")
MTA_STS_MAX_AGE = 31557600  # RFC 8461 §3.2: max_age is at most 31557600 seconds
POLICY_ID_LENGTH = 32  # RFC 8461 §3.1: id is 1 to 32 letters and digits
_POLICY_ID_RE = re.compile(r"[A-Za-z0-9]{1,32}")
# RFC 8461 §3.2: an mx pattern is a host name, or "*." and a domain for any one label in front of it.
WILDCARD_PREFIX = "*."
# RFC 8460 §3: rua is a comma-separated list of mailto: or https: URIs; "," and ";" end a URI, "!" begins a size.
_REPORT_URI_RE = re.compile(r"(?:mailto:[^\s,;!]+@[^\s,;!]+|https://[^\s,;!]+)")


def render_mta_sts_policy(mode: Any, mx_hosts: Sequence[Any], max_age: Any) -> str:
    """The policy file: `version: STSv1`, `mode`, one `mx:` per MX host in MX order, `max_age`.

    Lines end in LF, which RFC 8461 §3.2's grammar allows (sts-policy-term = LF / CRLF)."""
    if mode not in MTA_STS_MODES:
        raise quoting.RenderValueError("mode", mode, f"must be one of {', '.join(MTA_STS_MODES)} (RFC 8461 §5)")
    if type(max_age) is not int or not 0 <= max_age <= MTA_STS_MAX_AGE:
        raise quoting.RenderValueError("max_age", max_age, f"must be whole seconds from 0 to {MTA_STS_MAX_AGE}")
    hosts = quoting.listing(mx_hosts, "mx_hosts")
    if not hosts:
        raise quoting.RenderValueError("mx_hosts", hosts, "a policy names at least one MX (RFC 8461 §3.2)")
    lines = ["version: STSv1", f"mode: {mode}"]
    for i, host in enumerate(hosts):
        # An MX target is a fully qualified name (RFC 5321 §5.1): one label ("mail") matches no MX
        # host, and senders' readers discard such a pattern (policies/readers/mtasts.py).
        name = host.removeprefix(WILDCARD_PREFIX) if type(host) is str else host
        try:
            quoting.fqdn(name, f"mx_hosts[{i}]")
        except quoting.RenderValueError:
            raise quoting.RenderValueError(
                f"mx_hosts[{i}]", host,
                "must be a lowercase fully qualified host name, or *. and one (RFC 8461 §3.2)") from None
        lines.append(f"mx: {host}")
    lines.append(f"max_age: {max_age}")
    return "\n".join(lines) + "\n"


def policy_id(policy_text: str) -> str:
    """The policy's id: the first 32 hex digits of its SHA-256, a function of the text alone."""
    return hashlib.sha256(policy_text.encode()).hexdigest()[:POLICY_ID_LENGTH]


def mta_sts_record(policy_id_value: Any) -> str:
    """The `_mta-sts.<domain>` TXT (RFC 8461 §3.1)."""
    if not isinstance(policy_id_value, str) or not _POLICY_ID_RE.fullmatch(policy_id_value):
        raise quoting.RenderValueError("policy_id", policy_id_value,
                                       "must be 1 to 32 letters and digits (RFC 8461 §3.1)")
    return f"v=STSv1; id={policy_id_value}"


def tls_rpt_record(ruas: Sequence[Any]) -> str:
    """The `_smtp._tls.<domain>` TXT (RFC 8460 §3): where senders send their daily TLS reports."""
    if not ruas:
        raise quoting.RenderValueError("ruas", list(ruas), "a TLS-RPT record needs at least one rua (RFC 8460 §3)")
    for i, uri in enumerate(ruas):
        if not isinstance(uri, str) or not _REPORT_URI_RE.fullmatch(uri):
            raise quoting.RenderValueError(f"ruas[{i}]", uri,
                                           "must be a mailto: or https: URI without spaces, ',', ';' or '!' "
                                           "(RFC 8460 §3)")
    return "v=TLSRPTv1; rua=" + ",".join(ruas)
