"""policyd-rate-limit's YAML config (/etc/policyd-rate-limit.yaml, Debian package 1.0.1).

Keys read (missing keys take the package defaults, as its `Config.__getattr__` does):
`limits` ([[mails, seconds], ...], default [[10, 60], [150, 86400]]), `limits_by_id`
({id: limits}; [] = unlimited), `limit_by_sasl` (True), `limit_by_sender` (False),
`limit_by_ip` (False), `SOCKET` (where it listens: a unix socket path, default
/var/spool/postfix/ratelimit/policy, or `[address, port]`). The daemon counts per SASL user
first, then sender, then IP (only for clients in `limited_networks`), and only requests in
protocol state RCPT (policyd.py): wired into smtpd_data/end_of_data restrictions it counts nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import yaml

DEFAULTS = {
    "limits": [[10, 60], [150, 86400]],
    "limits_by_id": {},
    "limit_by_sasl": True,
    "limit_by_sender": False,
    "limit_by_ip": False,
    "SOCKET": "/var/spool/postfix/ratelimit/policy",
}
DAY = 86400


@dataclass(frozen=True)
class RateLimitConf:
    limits: list[tuple[int, int]] = field(default_factory=list)
    limits_by_id: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    limit_by_sasl: bool = True
    limit_by_sender: bool = False
    limit_by_ip: bool = False
    socket: str | tuple[str, int] = "/var/spool/postfix/ratelimit/policy"
    problems: list[str] = field(default_factory=list)


def daily_cap(limits: list[tuple[int, int]]) -> float:
    """Most mails one id can send in 24 hours under `limits` (inf when unlimited)."""
    cap = math.inf
    for mails, seconds in limits:
        if seconds <= 0:
            continue
        windows = 1 if seconds >= DAY else math.ceil(DAY / seconds)
        cap = min(cap, mails * windows)
    return cap


def _limits(value, where: str, problems: list[str]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    if not isinstance(value, list):
        problems.append(f"{where} is not a list of [mails, seconds] pairs")
        return out
    for item in value:
        if isinstance(item, (list, tuple)) and len(item) == 2 and all(isinstance(v, int) for v in item):
            out.append((int(item[0]), int(item[1])))
        else:
            problems.append(f"{where}: {item!r} is not a [mails, seconds] pair")
    return out


def parse_rate_limit_yaml(text: str) -> RateLimitConf:
    problems: list[str] = []
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        return RateLimitConf(problems=[f"not valid YAML: {str(exc).splitlines()[0]}"])
    except RecursionError:  # PyYAML's parser recurses once per nesting level: `[[[[...` runs out of stack
        return RateLimitConf(problems=["not valid YAML: nested deeper than the reader can follow"])
    if not isinstance(data, dict):
        return RateLimitConf(problems=["top level is not a mapping"])
    merged = {**DEFAULTS, **data}
    limits = _limits(merged["limits"], "limits", problems)
    by_id = merged["limits_by_id"] or {}
    limits_by_id: dict[str, list[tuple[int, int]]] = {}
    if isinstance(by_id, dict):
        limits_by_id = {str(k): _limits(v or [], f"limits_by_id[{k}]", problems) for k, v in by_id.items()}
    else:
        problems.append("limits_by_id is not a mapping")
    return RateLimitConf(limits, limits_by_id, bool(merged["limit_by_sasl"]), bool(merged["limit_by_sender"]),
                         bool(merged["limit_by_ip"]), _socket(merged["SOCKET"], problems), problems)


def _socket(value, problems: list[str]) -> str | tuple[str, int]:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[1], int):
        return (str(value[0]), int(value[1]))
    problems.append(f"SOCKET {value!r} is neither a socket path nor [address, port]")
    return DEFAULTS["SOCKET"]
