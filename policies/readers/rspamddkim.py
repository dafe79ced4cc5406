"""rspamd's DKIM signing module (https://rspamd.com/doc/modules/dkim_signing.html), text in, keys out.

The module's settings live in /etc/rspamd/local.d/dkim_signing.conf (merged over the defaults)
and /etc/rspamd/override.d/dkim_signing.conf (wins over both), written in UCL: `key = value;`
(`:` or nothing for `=`), `key { ... }` sections, `[a, b]` arrays, quoted or bare strings, `#` and
`/* */` comments and `.include` macros (not followed: listed so the caller can say what it did
not read). The defaults: `enabled = true`, `path = "/var/lib/rspamd/dkim/$domain.$selector.key"`,
`selector = "dkim"`, `sign_authenticated = true`, `sign_local = true`, `use_domain = "header"`,
`use_esld = true`, `try_fallback = true`. A `domain { NAME { path; selector } }` block (or
`selectors = [{path; selector}, ...]` in it) names the keys of one domain; other domains use the
global path and selector when `try_fallback` is on; `$domain` and `$selector` in a path are
replaced when signing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_PATH = "/var/lib/rspamd/dkim/$domain.$selector.key"
DEFAULT_SELECTOR = "dkim"
CONFIG_PATHS = ("/etc/rspamd/local.d/dkim_signing.conf", "/etc/rspamd/override.d/dkim_signing.conf")
PROXY_CONFIG_PATHS = ("/etc/rspamd/local.d/worker-proxy.inc", "/etc/rspamd/override.d/worker-proxy.inc")
DEFAULT_PROXY_SOCKET = "localhost:11332"  # rspamd's worker-proxy.inc: the milter Postfix talks to
_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}

_TOKEN = re.compile("|".join((
    r"\s+", r"\#[^\n]*", r"/\*.*?\*/",  # blanks and comments
    r'"(?:\\.|[^"\\])*"', r"'(?:\\.|[^'\\])*'",  # quoted strings
    r"[{}\[\]=;,]",  # punctuation
    r"\.[a-z]+(?:\([^)]*\))?[^\n]*",  # a macro (.include "file") to the end of its line
    r"[^\s{}\[\];,=\"'\#]+",  # a bare word
)), re.DOTALL)


@dataclass
class _Tokens:
    items: list[tuple[str, str]]  # (kind, text): punct, string, word, macro
    pos: int = 0

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.pos] if self.pos < len(self.items) else None

    def take(self) -> tuple[str, str]:
        self.pos += 1
        return self.items[self.pos - 1]


def _tokens(text: str) -> _Tokens:
    out: list[tuple[str, str]] = []
    for match in _TOKEN.finditer(text):
        token = match.group(0)
        if token.isspace() or token.startswith(("#", "/*")):
            continue
        if token[0] in "\"'":
            out.append(("string", re.sub(r"\\(.)", r"\1", token[1:-1])))
        elif token in "{}[]=;,":
            out.append(("punct", token))
        elif token.startswith(".") and re.match(r"\.[a-z]+", token) and not token.startswith("./"):
            out.append(("macro", token.strip()))
        else:
            out.append(("word", token))
    return _Tokens(out)


def _merge(target: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict) and isinstance(target.get(key), dict):
        for k, v in value.items():
            _merge(target[key], k, v)
    else:
        target[key] = value


def _object(tokens: _Tokens, macros: list[str], closing: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    while tokens.peek() is not None:
        kind, text = tokens.take()
        if (kind, text) == ("punct", closing):
            return out
        if kind == "macro":
            macros.append(text)
            continue
        if kind == "punct":
            continue  # ';' ',' and stray brackets
        key = text[:-1] if kind == "word" and text.endswith(":") else text
        path = [key]
        while (nxt := tokens.peek()) is not None and nxt[0] in ("string", "word") and _followed_by_block(tokens):
            path.append(tokens.take()[1])  # `section "name" { }` is section.name
        if tokens.peek() == ("punct", "="):
            tokens.take()
        value = _value(tokens, macros)
        for part in reversed(path[1:]):
            value = {part: value}
        _merge(out, key, value)
    return out


def _followed_by_block(tokens: _Tokens) -> bool:
    nxt = tokens.items[tokens.pos + 1] if tokens.pos + 1 < len(tokens.items) else None
    return nxt == ("punct", "{")


def _value(tokens: _Tokens, macros: list[str]) -> Any:
    token = tokens.peek()
    if token is None:
        return None
    tokens.take()
    if token == ("punct", "{"):
        return _object(tokens, macros, "}")
    if token == ("punct", "["):
        items: list[Any] = []
        while (nxt := tokens.peek()) is not None and nxt != ("punct", "]"):
            if nxt[0] == "punct" and nxt[1] in ",;":
                tokens.take()
                continue
            items.append(_value(tokens, macros))
        if tokens.peek() is not None:
            tokens.take()
        return items
    return token[1]


def parse_ucl(text: str) -> tuple[dict[str, Any], list[str]]:
    """(the settings, the macros such as `.include` that were not followed)."""
    macros: list[str] = []
    return _object(_tokens(text), macros, None), macros


def _flag(value: Any, default: bool) -> bool:
    text = str(value).lower() if value is not None else ""
    return True if text in _TRUE else False if text in _FALSE else default


@dataclass(frozen=True)
class KeyRef:
    selector: str
    path: str  # with $domain and $selector replaced


@dataclass(frozen=True)
class DkimSigning:
    settings: dict[str, Any] = field(default_factory=dict)
    macros: tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return _flag(self.settings.get("enabled"), True)

    @property
    def sign_authenticated(self) -> bool:
        return _flag(self.settings.get("sign_authenticated"), True)

    @property
    def try_fallback(self) -> bool:
        return _flag(self.settings.get("try_fallback"), True)

    @property
    def use_domain(self) -> str:
        return str(self.settings.get("use_domain") or "header")

    def keys_for(self, domain: str) -> list[KeyRef]:
        """The keys rspamd signs mail of `domain` with: its `domain` block, else the global path and selector
        (with try_fallback). The key file must exist on the host for rspamd to sign."""
        blocks = self.settings.get("domain")
        block = blocks.get(domain) if isinstance(blocks, dict) else None
        if isinstance(block, dict):
            listed = block.get("selectors")
            entries = [e for e in listed if isinstance(e, dict)] if isinstance(listed, list) else [block]
            return [_key(domain, str(e.get("selector") or self.settings.get("selector") or DEFAULT_SELECTOR),
                         str(e.get("path") or self.settings.get("path") or DEFAULT_PATH)) for e in entries]
        if not self.try_fallback:
            return []
        return [_key(domain, str(self.settings.get("selector") or DEFAULT_SELECTOR),
                     str(self.settings.get("path") or DEFAULT_PATH))]


def _key(domain: str, selector: str, path: str) -> KeyRef:
    return KeyRef(selector, path.replace("$domain", domain).replace("$selector", selector))


def read(texts: list[str]) -> DkimSigning:
    """The module's effective settings from its files in rspamd's order (local.d, then override.d)."""
    merged: dict[str, Any] = {}
    macros: list[str] = []
    for text in texts:
        settings, found = parse_ucl(text)
        macros += found
        for key, value in settings.items():
            _merge(merged, key, value)
    return DkimSigning(merged, tuple(macros))


def proxy_ports(texts: list[str]) -> list[int]:
    """The ports rspamd's proxy worker (its milter) listens on: bind_socket in worker-proxy.inc, else 11332."""
    sockets: list[str] = []
    for text in texts:
        value = parse_ucl(text)[0].get("bind_socket")
        if value is not None:
            sockets = [str(v) for v in value] if isinstance(value, list) else [str(value)]
    ports = [int(s.rsplit(":", 1)[1]) for s in sockets or [DEFAULT_PROXY_SOCKET] if re.search(r":\d+$", s)]
    return ports
