"""A value refused while the stack's files are rendered, phrased as a config error naming its key.

The config model accepts some values that a renderer still refuses (each file format has its own
grammar). The renderers name their own parameter (`ipv6_address`, `hostmaster`), which the person
who wrote the config never sees; this module finds the config key the refused value came from.
Each part of the stack is rendered within the part of the config it derives from (its *scope*:
`hosts[2]`, then `organization`, ...), and the refused value is looked up among the config's
values, in the scope first: the same value (`2001:db8::1%eth0` is `hosts[2].publicAddress6`), else
the longest config value it was built from (`mail.exa_mple.net` holds `organization.domain`).

Only the error path runs this. The values searched are the model's own dump (defaults included);
the caller spells a path as the user wrote the key (a zone read from a `zonesFrom` file by its file
and index there). Values and rules are shown through `components/config/redaction.py`: a value
that could be a secret is redacted, as in every other config error.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError

from components.config import CONFIG_NAMESPACE
from components.config.redaction import scrub, shown
from components.render.quoting import RenderValueError

# A Python string literal as renderers quote values in their messages (`{value!r}`).
_LITERAL_RE = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\"""")
# Where a config value may sit inside a value built from it: not inside a longer word or number.
_WORD = r"A-Za-z0-9_-"


def refusal(error: ValueError) -> tuple[list[Any], str]:
    """(the refused values, the rule) of a renderer's error, without the renderer's own wording for
    where (its parameter names and indexes mean nothing to the person who wrote the config)."""
    if isinstance(error, ValidationError):  # an Args model refused a derived value
        first = error.errors()[0]
        return [first.get("input")], first["msg"].removeprefix("Value error, ")
    message = str(error)
    if isinstance(error, RenderValueError):
        return [error.value], error.rule
    literals = list(_LITERAL_RE.finditer(message))
    values = []
    for match in literals:
        try:
            values.append(ast.literal_eval(match.group()))
        except (ValueError, SyntaxError):
            continue
    if not literals:
        return [], message
    after = message[literals[0].end():].strip(" :")
    return values, after or message


def config_leaves(cfg: BaseModel) -> list[tuple[str, Any]]:
    """Every value of the config with its path in the YAML spelling ('hosts[2].publicAddress6'), lists too."""
    out: list[tuple[str, Any]] = []

    def walk(path: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{path}.{key}" if path else key, inner)
            return
        if value is None or isinstance(value, bool):
            return
        out.append((path, value))
        if isinstance(value, list):
            for index, inner in enumerate(value):
                walk(f"{path}[{index}]", inner)

    walk("", cfg.model_dump(mode="json", by_alias=True))
    return out


def _norm(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return tuple(_norm(v) for v in value)
    return str(value).strip().rstrip(".").lower()


def _in_scope(path: str, scope: str) -> bool:
    return path == scope or path.startswith((scope + ".", scope + "["))


def _ordered(leaves: list[tuple[str, Any]], scope: Sequence[str]) -> list[tuple[str, Any]]:
    """The leaves under each scope entry in turn, then all the others."""
    seen: set[str] = set()
    ordered = []
    for entry in [*scope, ""]:
        for path, value in leaves:
            if path not in seen and (not entry or _in_scope(path, entry)):
                seen.add(path)
                ordered.append((path, value))
    return ordered


def find_key(values: Iterable[Any], leaves: list[tuple[str, Any]], scope: Sequence[str]) -> tuple[str, Any] | None:
    """The config path and value a refused value came from: the same value, else the longest config
    value it contains (a name built from a host name and the domain); the scope first."""
    candidates: list[Any] = []
    for value in values:
        if value is None or isinstance(value, bool):
            continue
        candidates.append(value)
        if isinstance(value, list | tuple):
            candidates.extend(v for v in value if v is not None and not isinstance(v, bool))
    ordered = _ordered(leaves, scope)
    for candidate in candidates:  # the same value
        wanted = _norm(candidate)
        for path, leaf in ordered:
            if _norm(leaf) == wanted:
                return path, leaf
    best: tuple[str, Any] | None = None
    for candidate in candidates:  # a value built from one of the config's
        if isinstance(candidate, list | tuple):
            continue
        text = _norm(candidate)
        for path, leaf in ordered:
            piece = _norm(leaf)
            if isinstance(piece, str) and len(piece) >= 3 and (best is None or len(piece) > len(_norm(best[1]))) \
                    and re.search(rf"(?<![{_WORD}]){re.escape(piece)}(?![{_WORD}])", text):
                best = (path, leaf)
    return best


def explain(error: ValueError, *, scope: Sequence[str], what: str, cfg: BaseModel,
            display: Callable[[str], str]) -> str:
    """One line for a config error: `key = value: rule (refused for what)`.

    `display` turns a config path into the key as the user wrote it (`isp:hosts[2].publicAddress6`,
    or `zones/customers.yaml: [3].records[1].content`)."""
    values, rule = refusal(error)
    found = find_key(values, config_leaves(cfg), scope)
    rule = scrub(rule)  # a secret-looking value never reaches the message, even inside the rule
    if found is not None:
        key = display(found[0])
        return f"{key} = {shown(found[1], name=_last_name(found[0]))}: {rule} (refused while rendering {what})"
    where = display(scope[0]) if scope else f"{CONFIG_NAMESPACE}"
    value = f" {shown(values[0])}" if values else ""
    return f"{where}: a value derived from it{value} was refused while rendering {what}: {rule}"


def _last_name(path: str) -> str:
    """'hosts[2].publicAddress6' -> 'publicAddress6': the name that says whether its value is secret."""
    return re.sub(r"\[\d+\]", "", path).rsplit(".", 1)[-1]
