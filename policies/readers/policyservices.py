"""Postfix policy services other than policyd-rate-limit: postfwd and policyd v2 (cluebringer).

postfwd (postfwd(8), 1.x to 3.x): a ruleset of `item=value; ...; action=...` lines; a line
starting with blanks continues the previous rule (1.30+), a trailing `\\` too; `&&NAME { ... };`
defines a macro used as `&&NAME`; `#` comments. Limits are actions:
`rate(item/max/seconds/action)` counts requests, `rcpt(...)` recipients, `size(...)` bytes
(and their `...5321` variants); the counter is kept per value of `item`, so
`rate(sasl_username/200/86400/...)` is a per-account daily cap and `rate(client_address/...)`
one per client address. postfwd listens on 127.0.0.1:10040 unless `--interface`/`--port`
(or Debian's /etc/default/postfwd INET/PORT) say otherwise.

cluebringer (policyd v2): an INI file ([server] `host` (all) / `port` (10031), [Quotas]
`enable`); quotas themselves live in its database, written by hand as SQL
`INSERT INTO quotas (..., Track, Period, ...)` and `INSERT INTO quotas_limits (QuotasID, Type,
CounterLimit)`. `Track` is `SASLUsername`, `Sender:user@domain`, `Sender:@domain`,
`Recipient:...`, `SenderIP:/24` or `Policy`; `Type` is `MessageCount` or
`MessageCumulativeSize`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

POSTFWD_LISTEN = ("127.0.0.1", 10040)
CLUEBRINGER_PORT = 10031
RATE_ACTIONS = {"rate": "requests", "rcpt": "recipients", "size": "bytes"}


# ---------------------------------------------------------------------------------------
# postfwd


@dataclass(frozen=True)
class Limit:
    """One postfwd rate()/rcpt()/size() action."""

    command: str  # rate, rcpt, size (a 5321 suffix dropped)
    item: str  # the request attribute counted per value, e.g. sasl_username
    maximum: int
    seconds: int

    @property
    def counts(self) -> str:
        return RATE_ACTIONS[self.command]


@dataclass(frozen=True)
class PostfwdRule:
    line: int
    rule_id: str
    items: tuple[tuple[str, str], ...]  # (key with its operator, value) other than id/action
    action: str
    limit: Limit | None

    @property
    def final(self) -> bool:
        """An action Postfix acts on (postfwd stops there), not a postfwd command that goes on."""
        word = self.action.split("(", 1)[0].strip().lower()
        return word not in ("jump", "score", "set", "note", "rate", "rcpt", "size", "rate5321", "rcpt5321",
                            "size5321", "wait", "groupadd", "groupdel", "ask", "mail", "sendmail", "")


@dataclass(frozen=True)
class PostfwdRules:
    rules: tuple[PostfwdRule, ...] = ()
    problems: tuple[str, ...] = ()


_MACRO_DEF = re.compile(r"^&&(\w+)\s*\{(.*)\}\s*;?\s*$", re.DOTALL)
_LIMIT = re.compile(r"^(rate|rcpt|size)(?:5321)?\s*\(\s*\$?\$?([^/]+?)\s*/\s*(\d+)\s*/\s*(\d+)\s*/(.*)\)\s*$",
                    re.IGNORECASE | re.DOTALL)
_ITEM = re.compile(r"^\s*([A-Za-z0-9_]+)\s*(==|=>|=<|=~|!=|!>|!<|!~|<=|>=|~=|<|>|=)\s*(.*?)\s*$", re.DOTALL)


def _postfwd_logical(text: str) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    macro_open = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0] if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        continues = out and (raw[:1].isspace() or out[-1][1].rstrip().endswith("\\") or macro_open
                             or line.strip().startswith("}"))
        if continues:
            previous = out[-1][1].rstrip().removesuffix("\\")
            out[-1] = (out[-1][0], previous + "; " + line.strip())
        else:
            out.append((number, line.strip()))
        joined = out[-1][1]
        macro_open = joined.startswith("&&") and joined.count("{") > joined.count("}")
    return out


def parse_postfwd(text: str) -> PostfwdRules:
    macros: dict[str, str] = {}
    rules: list[PostfwdRule] = []
    problems: list[str] = []
    for number, line in _postfwd_logical(text):
        definition = _MACRO_DEF.match(line)
        if definition:
            macros[definition.group(1)] = definition.group(2)
            continue
        for _ in range(5):  # macros may hold macros
            line = re.sub(r"&&(\w+)", lambda m: macros.get(m.group(1), m.group(0)), line)
        items: list[tuple[str, str]] = []
        rule_id, action = f"R-{len(rules)}", ""
        for part in re.split(r"\s*;\s*", line):
            if not part.strip() or part.strip() == "\\":
                continue
            match = _ITEM.match(part)
            if not match:
                problems.append(f"line {number}: not 'item=value': {part[:60]!r}")
                continue
            key, op, value = match.groups()
            if key == "id":
                rule_id = value
            elif key == "action":
                action = value
            else:
                items.append((f"{key}{op if op != '=' else ''}", value))
        if not action:
            problems.append(f"line {number}: rule {rule_id} has no action (postfwd ignores it)")
            continue
        limit = None
        found = _LIMIT.match(action)
        if found:
            limit = Limit(found.group(1).lower(), found.group(2).strip().lower(), int(found.group(3)),
                          int(found.group(4)))
        elif re.match(r"^(rate|rcpt|size)", action, re.IGNORECASE):
            problems.append(f"line {number}: rule {rule_id}: {action[:60]!r} is not item/max/seconds/action")
        rules.append(PostfwdRule(number, rule_id, tuple(items), action, limit))
    return PostfwdRules(tuple(rules), tuple(problems))


@dataclass(frozen=True)
class PostfwdCommand:
    """What a postfwd command line (ExecStart, master.cf spawn argv, /etc/default/postfwd) says."""

    rule_files: tuple[str, ...]
    interface: str
    port: int | None  # None with --proto=unix (then `socket` is the path)
    socket: str = ""


def postfwd_command(args: list[str], defaults: PostfwdCommand | None = None) -> PostfwdCommand:
    files: list[str] = []
    interface, port = (defaults.interface, defaults.port) if defaults else POSTFWD_LISTEN
    proto, raw_port = "tcp", ""
    words = list(args)
    index = 0
    while index < len(words):
        word = words[index]
        name, eq, inline = word.partition("=")
        value = inline if eq else (words[index + 1] if index + 1 < len(words) else "")
        step = 1 if eq else 2
        if name in ("-f", "--file"):
            files.append(value)
        elif name in ("-i", "--interface"):
            interface = value
        elif name in ("-p", "--port"):
            raw_port = value
        elif name == "--proto":
            proto = value
        elif name == "--server_socket":
            kind, _, rest = value.partition(":")
            if kind == "unix":
                proto, raw_port = "unix", rest
            else:
                interface, _, raw_port = rest.rpartition(":")
        else:
            step = 1
        index += step
    if proto == "unix":
        return PostfwdCommand(tuple(files) or (defaults.rule_files if defaults else ()), "", None, raw_port)
    if raw_port.isdigit():
        port = int(raw_port)
    return PostfwdCommand(tuple(files) or (defaults.rule_files if defaults else ()), interface, port)


def debian_default_postfwd(text: str) -> PostfwdCommand:
    """Debian's /etc/default/postfwd (sourced by its init script): CONF, INET, PORT, ARGS."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        match = re.match(r"^\s*([A-Z_]+)=(.*)$", raw.split("#", 1)[0])
        if match:
            values[match.group(1)] = match.group(2).strip().strip("\"'")
    port = values.get("PORT", "10040")
    base = PostfwdCommand((values.get("CONF", "/etc/postfix/postfwd.cf"),), values.get("INET", "127.0.0.1"),
                          int(port) if port.isdigit() else None)
    return postfwd_command(values.get("ARGS", "").split(), base)


# ---------------------------------------------------------------------------------------
# cluebringer (policyd v2)


@dataclass(frozen=True)
class ClueConf:
    host: str
    port: int
    modules: tuple[str, ...]
    quotas_enabled: bool
    dsn: str
    problems: tuple[str, ...] = ()


def parse_cluebringer_conf(text: str) -> ClueConf:
    sections: dict[str, dict[str, str]] = {}
    current = sections.setdefault("", {})
    problems: list[str] = []
    lines = iter(enumerate(text.splitlines(), start=1))
    for number, raw in lines:
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = re.match(r"^\[([^\]]+)\]$", line)
        if header:
            current = sections.setdefault(header.group(1).strip().lower(), {})
            continue
        key, sep, value = line.partition("=")
        if not sep:
            problems.append(f"line {number}: not 'key=value': {line[:60]!r}")
            continue
        value = value.strip()
        if value.startswith("<<"):  # modules=<<EOT ... EOT
            marker, block = value[2:].strip(), []
            for _, more in lines:
                if more.strip() == marker:
                    break
                block.append(more.strip())
            value = "\n".join(b for b in block if b and not b.startswith("#"))
        current[key.strip().lower()] = value
    server = sections.get("server", {})
    port = server.get("port", str(CLUEBRINGER_PORT))
    modules = tuple(m for m in re.split(r"[\s,]+", server.get("modules", "")) if m)
    quotas = sections.get("quotas", {}).get("enable", "0").strip() in ("1", "yes", "true")
    if modules and "Quotas" not in modules:
        quotas = False
    return ClueConf(server.get("host", "*") or "*", int(port) if port.isdigit() else CLUEBRINGER_PORT, modules,
                    quotas, sections.get("database", {}).get("dsn", ""), tuple(problems))


@dataclass(frozen=True)
class Quota:
    quota_id: int
    name: str
    track: str
    period: int
    disabled: bool
    limits: tuple[tuple[str, int], ...]  # (Type, CounterLimit) of its enabled limits
    line: int

    @property
    def per_account(self) -> bool:
        """Counted per SASL login, or per full sender address (`Sender:user@domain`)."""
        track = self.track.strip().lower()
        return track.startswith("sasl") or track in ("sender:user@domain", "sender")

    @property
    def message_limits(self) -> tuple[int, ...]:
        return tuple(limit for kind, limit in self.limits if kind.lower() == "messagecount")


_INSERT = re.compile(r"insert\s+into\s+(\w+)\s*\(([^)]*)\)\s*values\s*(.+?);", re.IGNORECASE | re.DOTALL)


def _sql_rows(values: str) -> list[list[str]]:
    rows: list[list[str]] = []
    for group in re.findall(r"\(((?:'(?:[^']|'')*'|[^()'])*)\)", values):
        row = [cell.strip() for cell in re.findall(r"'(?:[^']|'')*'|[^,]+", group)]
        rows.append([cell[1:-1].replace("''", "'") if cell.startswith("'") else cell for cell in row])
    return rows


def parse_quota_sql(text: str) -> tuple[list[Quota], list[str]]:
    """Quotas and their limits from SQL INSERTs (ids in insertion order unless an ID column is given)."""
    quotas: dict[int, dict] = {}
    limits: list[tuple[int, str, int, bool]] = []
    problems: list[str] = []
    for match in _INSERT.finditer(text):
        table = match.group(1).lower()
        columns = [c.strip().strip('`"').lower() for c in match.group(2).split(",")]
        line = text.count("\n", 0, match.start()) + 1
        for row in _sql_rows(match.group(3)):
            if len(row) != len(columns):
                problems.append(f"line {line}: {len(row)} values for {len(columns)} columns in {table}")
                continue
            record = dict(zip(columns, row, strict=True))
            try:
                if table == "quotas":
                    quota_id = int(record.get("id", len(quotas) + 1))
                    quotas[quota_id] = {**record, "_line": line}
                elif table == "quotas_limits":
                    limits.append((int(record["quotasid"]), record.get("type", ""),
                                   int(record.get("counterlimit", "0")), record.get("disabled", "0") not in ("0", "")))
            except (KeyError, ValueError):
                problems.append(f"line {line}: a {table} row is not understood: {row}")
    out = []
    for quota_id, record in quotas.items():
        try:
            period = int(record.get("period", "0"))
        except ValueError:
            problems.append(f"line {record['_line']}: quota period {record.get('period')!r} is not a number")
            continue
        mine = tuple((kind, limit) for qid, kind, limit, disabled in limits if qid == quota_id and not disabled)
        out.append(Quota(quota_id, record.get("name", ""), record.get("track", ""), period,
                         record.get("disabled", "0") not in ("0", ""), mine, record["_line"]))
    return out, problems


@dataclass(frozen=True)
class ClueFile:
    """A cluebringer file: its INI config, or SQL that loads quotas (either may be absent)."""

    conf: ClueConf | None
    quotas: tuple[Quota, ...]
    problems: tuple[str, ...]


def parse_cluebringer(text: str) -> ClueFile:
    quotas, problems = parse_quota_sql(text) if _INSERT.search(text) else ([], [])
    conf = parse_cluebringer_conf(text) if re.search(r"^\s*\[server\]", text, re.MULTILINE | re.IGNORECASE) else None
    return ClueFile(conf, tuple(quotas), tuple(problems) + (conf.problems if conf else ()))
