"""The per-account daily sending limit (lesson 2): Debian's policyd-rate-limit and how Postfix reaches it.

How policyd-rate-limit works (read from its code, policyd_rate_limit/policyd.py, Debian 1.x):
- Postfix sends it one policy request per recipient; it acts only when `protocol_state` is RCPT
  and passes every other state. So it must be wired in `smtpd_recipient_restrictions`
  (not `smtpd_end_of_data_restrictions`, where it would never count anything), and what it
  counts is recipients: a limit of 250 is 250 recipients per account per day.
- The counting key is the first of `sasl_username` (if `limit_by_sasl`), the sender
  (`limit_by_sender`) or the client address (`limit_by_ip` plus `limited_networks`). We key by
  SASL user only: sender addresses are forgeable and an IP is a whole dial-up pool or CGNAT.
  Unauthenticated requests (inbound mail from the Internet) carry no key and pass.
- `limits` is a list of [count, seconds]; `SOCKET` is a unix socket path or [ip, port];
  `backend: 0` is sqlite3 with `sqlite_config.database`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from components.render import quoting

POSTFIX_QUEUE_DIRECTORY = "/var/spool/postfix"
DEFAULT_POLICY_SOCKET = "/var/spool/postfix/ratelimit/policy"
DEFAULT_SQLITE_PATH = "/var/lib/policyd-rate-limit/db.sqlite3"
DEFAULT_PIDFILE = "/var/run/policyd-rate-limit/policyd-rate-limit.pid"
SECONDS_PER_DAY = 86400
# Far above the lesson's 100-250 but still a cap: a bigger number is a typo or no limit at all.
MAX_DAILY_LIMIT = 100_000

# sockaddr_un.sun_path is 108 bytes with the final NUL: a longer socket cannot be bound.
_SUN_PATH_MAX = 107
_INET_RE = re.compile(r"^inet:(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<v4>[0-9.]+)):(?P<port>[0-9]{1,5})$")
_SYSTEM_NAME_RE = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class PolicyEndpoint:
    """Where the policy service listens: a TCP address or a unix socket (absolute path)."""

    kind: Literal["inet", "unix"]
    host: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    port: int | None = None
    path: str | None = None

    def postfix_form(self, parameter: str) -> str:
        """The `check_policy_service` argument. smtpd runs chrooted in the queue directory, so
        a unix socket must live below it and is named relative to it (`unix:ratelimit/policy`)."""
        if self.kind == "inet":
            host = f"[{self.host}]" if self.host.version == 6 else str(self.host)
            return f"inet:{host}:{self.port}"
        prefix = POSTFIX_QUEUE_DIRECTORY + "/"
        if not self.path.startswith(prefix):
            raise quoting.RenderValueError(
                parameter, self.path, f"a unix policy socket must be below {prefix}: chrooted smtpd cannot reach it"
            )
        return "unix:" + self.path[len(prefix) :]


def parse_policy_endpoint(value: object, parameter: str) -> PolicyEndpoint:
    """Accepts `inet:127.0.0.1:8552`, `inet:[::1]:8552`, `unix:ratelimit/policy` (relative to the
    Postfix queue directory, as Postfix writes it), `unix:/abs/path` or a bare absolute path."""
    if not isinstance(value, str):
        raise quoting.RenderValueError(parameter, value, "must be inet:IP:PORT or a unix socket path")
    inet = _INET_RE.fullmatch(value)
    if inet:
        host = quoting.ip_address(inet["v6"] or inet["v4"], parameter)
        return PolicyEndpoint("inet", host=host, port=quoting.port(int(inet["port"]), parameter))
    if not value.startswith(("unix:", "/")):
        raise quoting.RenderValueError(parameter, value, "must be inet:IP:PORT, unix:PATH or an absolute socket path")
    path = value.removeprefix("unix:")
    if path and not path.startswith("/"):
        path = f"{POSTFIX_QUEUE_DIRECTORY}/{path}"
    path = quoting.absolute_path(path, parameter)
    if len(path.encode()) > _SUN_PATH_MAX:
        raise quoting.RenderValueError(parameter, value, f"a unix socket path holds at most {_SUN_PATH_MAX} bytes")
    return PolicyEndpoint("unix", path=path)


def policy_service_for_postfix(listen: str) -> str:
    """The `check_policy_service` argument that reaches a policyd-rate-limit listening on `listen`."""
    return parse_policy_endpoint(listen, "listen").postfix_form("listen")


def render_ratelimit_config(
    *,
    daily_limit_per_account: int,
    listen: str = DEFAULT_POLICY_SOCKET,
    sqlite_path: str = DEFAULT_SQLITE_PATH,
    pidfile: str = DEFAULT_PIDFILE,
    user: str = "policyd-rate-limit",
    group: str = "policyd-rate-limit",
    per_account_overrides: Mapping[str, int] | None = None,
) -> str:
    """`/etc/policyd-rate-limit.yaml`: at most `daily_limit_per_account` recipients per SASL
    account per 24 hours (lesson 2: cap mail per account per day).

    Keyed by SASL username only (`limit_by_sasl: True`, sender and IP keys off). When the limit is
    reached, and also when its database fails, the service answers `defer_if_permit`: a broken
    counter must not silently lift the cap (the shipped default answers `dunno` on database errors).
    `per_account_overrides` maps a SASL username to its own daily limit.
    """
    limit = quoting.positive_int(daily_limit_per_account, "daily_limit_per_account", maximum=MAX_DAILY_LIMIT)
    endpoint = parse_policy_endpoint(listen, "listen")
    socket_yaml = json.dumps(endpoint.path) if endpoint.kind == "unix" else f'["{endpoint.host}", {endpoint.port}]'
    overrides = _overrides_yaml(per_account_overrides or {})
    for name, value in (("user", user), ("group", group)):
        if not isinstance(value, str) or not _SYSTEM_NAME_RE.fullmatch(value):
            raise quoting.RenderValueError(name, value, "must be a system user/group name")
    sqlite_path = quoting.absolute_path(sqlite_path, "sqlite_path")
    pidfile = quoting.absolute_path(pidfile, "pidfile")
    # Strings are written as JSON strings: JSON is a subset of YAML, so quoting is exact.
    return f"""\
# policyd-rate-limit: per-account daily sending limit (lesson 2). Rendered; edits are overwritten.
# Postfix asks once per recipient (smtpd_recipient_restrictions), so the limit counts recipients.
debug: False
user: {json.dumps(user)}
group: {json.dumps(group)}
pidfile: {json.dumps(pidfile)}

# 0 = sqlite3
backend: 0
sqlite_config:
    database: {json.dumps(sqlite_path)}

SOCKET: {socket_yaml}
# Only the unix socket uses this; Postfix's chrooted smtpd (user postfix) must be able to connect.
socket_permission: 0666

# [recipients, seconds]: one day.
limits:
    - [{limit}, {SECONDS_PER_DAY}]
limits_by_id:{overrides}

# Count per authenticated account; never per sender address (forgeable) or per IP (a whole pool).
limit_by_sasl: True
limit_by_sender: False
limit_by_ip: False
limited_networks: []

success_action: "dunno"
fail_action: {json.dumps(f"defer_if_permit Daily limit of {limit} recipients reached, retry tomorrow")}
# Fail closed: if the counter database is broken, defer instead of lifting the cap.
db_error_action: "defer_if_permit Sending limit service unavailable, retry later"

report: False
delay_to_close: 300
"""


def _overrides_yaml(overrides: Mapping[str, int]) -> str:
    if not isinstance(overrides, Mapping):
        raise quoting.RenderValueError(
            "per_account_overrides", overrides, "must be a mapping of account to daily limit"
        )
    if not overrides:
        return " {}"
    lines = []
    for account, account_limit in sorted(overrides.items()):
        quoting.account_name(account, "per_account_overrides")
        quoting.positive_int(account_limit, f"per_account_overrides[{account}]", maximum=MAX_DAILY_LIMIT)
        lines.append(f"\n    {json.dumps(account)}:\n        - [{account_limit}, {SECONDS_PER_DAY}]")
    return "".join(lines)
