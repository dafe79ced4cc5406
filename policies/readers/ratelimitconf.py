"""policyd-rate-limit's YAML config (/etc/policyd-rate-limit.yaml, Debian package 1.0.1).

Keys read (missing keys take the package defaults, as its `Config.__getattr__` does):
`limits` ([[mails, seconds], ...], default [[10, 60], [150, 86400]]), `limits_by_id`
({id: limits}; [] = unlimited), `limit_by_sasl` (True), `limit_by_sender` (False),
`limit_by_ip` (False). The daemon counts per SASL user first, then sender, then IP.
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
}
DAY = 86400


@dataclass
class RateLimitConf:
    limits: list[tuple[int, int]] = field(default_factory=list)
    limits_by_id: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    limit_by_sasl: bool = True
    limit_by_sender: bool = False
    limit_by_ip: bool = False
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
    conf = RateLimitConf()
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        conf.problems.append(f"not valid YAML: {str(exc).splitlines()[0]}")
        return conf
    if not isinstance(data, dict):
        conf.problems.append("top level is not a mapping")
        return conf
    merged = {**DEFAULTS, **data}
    conf.limits = _limits(merged["limits"], "limits", conf.problems)
    by_id = merged["limits_by_id"] or {}
    if isinstance(by_id, dict):
        conf.limits_by_id = {str(k): _limits(v or [], f"limits_by_id[{k}]", conf.problems) for k, v in by_id.items()}
    else:
        conf.problems.append("limits_by_id is not a mapping")
    conf.limit_by_sasl = bool(merged["limit_by_sasl"])
    conf.limit_by_sender = bool(merged["limit_by_sender"])
    conf.limit_by_ip = bool(merged["limit_by_ip"])
    return conf
