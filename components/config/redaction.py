"""What a message may show of a value: never anything that could be a secret.

Under the Pulumi CLI the program sees secrets decrypted, so an error that echoes a config value
can print a real key or token into CI logs. Every message path shows values through `shown` (a
value whose key is known) or `scrub` (free text: another library's exception, a YAML error, a
renderer's message). Redacted: values the engine marks secret, values of unknown keys, values
under secret-looking names (password, token, key, ... at any depth), PEM blocks and long
random-looking strings. Addresses, names and paths stay shown: they are what the operator needs.

Standard library only: preflight loads this file by path (it must not import the program's
`components` package, which the program it runs imports itself).
"""

from __future__ import annotations

import ipaddress
import json
import re
import unicodedata
from typing import Any

# Words of a setting name that say its value is a secret ...
_SECRET_WORDS = frozenset({
    "password", "passwd", "passphrase", "pass", "pwd", "secret", "secrets", "token", "tokens", "credential",
    "credentials", "creds", "auth", "apikey", "key", "keys", "privkey", "private", "cert", "certificate",
    "pem", "cookie", "salt", "signature", "dsn",
})
# ... unless its last word says it only refers to one (sshKeyConfig, privateAddress, keyFile, tokenName, keyTable).
_REFERENCE_WORDS = frozenset({
    "address", "addresses", "ip", "network", "networks", "config", "name", "names", "file", "files", "path",
    "paths", "dir", "id", "ids", "source", "challenge", "email", "table", "tables",
})
_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
MAX_SHOWN = 120  # characters of a shown value; longer ones are cut with "..."


def secret_name(name: str) -> bool:
    """Whether a key or parameter name says its value is secret (`sshPrivateKey`, `db_password`, `apiToken`)."""
    words = [w.lower() for w in _WORD_RE.findall(name)]
    if not words or not _SECRET_WORDS & set(words):
        return False
    return words[-1] not in _REFERENCE_WORDS


def redacted(value: Any) -> str:
    """The stand-in for a value that is not shown; its size only."""
    if isinstance(value, str):
        return f"[redacted: {len(value)} characters]"
    if isinstance(value, list):
        return f"[redacted: a list of {len(value)}]"
    if isinstance(value, dict):
        return f"[redacted: an object of {len(value)} keys]"
    return "[redacted]"


# Characters of one "word" of a token, API key, base64 or hex string, or path.
_TOKEN_RUN_RE = re.compile(r"[A-Za-z0-9+/=_.:~%-]{20,}")


def _switches_and_words(text: str) -> tuple[float, float]:
    """How often consecutive letters and digits switch between lowercase, uppercase and digit, and how
    many words (camelCase, snake_case, numbers) the text splits into, both per character."""
    alnum = [c for c in text if c.isascii() and c.isalnum()]
    kinds = ["d" if c.isdigit() else "u" if c.isupper() else "l" for c in alnum]
    switches = sum(a != b for a, b in zip(kinds, kinds[1:], strict=False))
    return switches / max(len(kinds) - 1, 1), len(_WORD_RE.findall(text)) / max(len(alnum), 1)


def _random_looking(run: str) -> bool:
    """A long run that reads like random text (tokens, keys, base64, hex), not like names, camelCase
    identifiers, paths, URLs and addresses. Thresholds: random mixed-case text switches case at least
    0.4 times per character and splits into at least 0.38 words per character (99 in 100 random
    tokens), camelCase identifiers into at most a third."""
    try:
        ipaddress.ip_network(run, strict=False)
        return False
    except ValueError:
        pass
    alnum = "".join(c for c in run if c.isascii() and c.isalnum())
    if len(alnum) < 16 or len(set(alnum)) < 10:
        return False
    if len(alnum) >= 32 and re.fullmatch(r"[0-9a-fA-F]+", alnum) and re.search(r"[a-fA-F]", alnum) and re.search(
            r"[0-9]", alnum):
        return True  # hex keys, digests and UUIDs, dashes or not
    if any(c.isupper() for c in alnum):
        switches, words = _switches_and_words(run)
        # Long tokens may be laxer: identifiers that long are camelCase words (at most 0.3 per character).
        return (switches >= 0.4 and words >= 0.38) or (len(alnum) >= 30 and switches >= 0.3 and words >= 0.3)
    for segment in re.split(r"[^A-Za-z0-9]+", run):  # lowercase and digits: each segment of a path or name
        if len(segment) < 20 or not re.search(r"[0-9]", segment):
            continue
        switches, words = _switches_and_words(segment)
        letters = [c for c in segment if c.isalpha()]
        vowels = sum(c in "aeiouy" for c in letters) / max(len(letters), 1)
        if (switches >= 0.3 and words >= 0.3) or (len(segment) >= 24 and vowels < 0.25):
            return True
    return False


def looks_secret(text: str) -> bool:
    """Whether text holds a PEM block or a long random-looking string."""
    if "-----BEGIN" in text or "PRIVATE KEY" in text:
        return True
    return any(_random_looking(m.group(0)) for m in _TOKEN_RUN_RE.finditer(text))


def _masked(value: Any, secret: bool, depth: int) -> Any:
    """`value` with every secret part replaced by its stand-in text."""
    if secret or (isinstance(value, str) and looks_secret(value)):
        return redacted(value)
    if depth > 32:
        return "..."
    if isinstance(value, dict):
        return {str(k): _masked(v, secret_name(str(k)), depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v, False, depth + 1) for v in value]
    return value


def shown(value: Any, *, name: str = "", secret: bool = False) -> str:
    """How a message shows `value` (of the key or parameter `name`): JSON text, one line, at most
    MAX_SHOWN characters; redacted when `secret`, when `name` looks secret, or when it looks secret."""
    masked = _masked(value, secret or secret_name(name), 0)
    if isinstance(masked, str) and masked.startswith("[redacted"):
        return masked
    text = json.dumps(masked, default=str)  # ASCII-escaped: no control characters, no line breaks
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


# `-----BEGIN X-----` up to its END line, or, cut short, to the end of its quoted string or line.
_PEM_RE = re.compile(r"-----BEGIN [A-Z0-9 ]{0,64}-----(?:.*?-----END [A-Z0-9 ]{0,64}-----|[^'\"\n]*)", re.DOTALL)
# name=value and name: "value" as exception messages and reprs write them (password='x', "token": "x").
_ASSIGNMENT_RE = re.compile(
    r"""(?P<name>[A-Za-z_][\w.\[\]-]*)(?P<quote>['"]?)(?P<sep>\s*=\s*|\s*:\s*(?=['"]))"""
    r"""(?P<value>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*"|[^\s,;)}\]]+)"""
)


def _assignment(match: re.Match[str]) -> str:
    name = re.split(r"[.\[\]]", match.group("name").rstrip("]"))[-1] or match.group("name")
    value = match.group("value")
    if not secret_name(name) or value.strip("'\"").startswith(("[redacted", "[secret")):
        return match.group(0)
    return match.group(0)[: match.start("value") - match.start()] + redacted(value.strip("'\""))


def printable(text: str) -> str:
    """Control, format and line-separator characters and lone surrogates as escapes (newlines and tabs
    kept): a message cannot move the cursor, recolour a terminal, reorder text or forge a log line."""
    out = []
    for char in text:
        if char in "\n\t" or unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Zl", "Zp", "Co", "Cn"):
            out.append(char)
        else:
            out.append(json.dumps(char)[1:-1] if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
    return "".join(out)


def scrub(text: str) -> str:
    """Free text made safe to print: PEM blocks, values of secret-looking names and long random-looking
    strings redacted; control characters escaped."""
    text = _PEM_RE.sub(lambda m: redacted(m.group(0)), text)
    text = _ASSIGNMENT_RE.sub(_assignment, text)
    text = _TOKEN_RUN_RE.sub(lambda m: redacted(m.group(0)) if _random_looking(m.group(0)) else m.group(0), text)
    return printable(text)
