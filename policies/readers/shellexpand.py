"""What the shell makes of a word, a here-document and the output of `echo`/`printf`.

The helper of `readers.shellscript`: it takes nodes of the tree-sitter-bash syntax tree and the
script's bytes, and gives the text the shell would produce, or None with the reason when the
text depends on something only known when the command runs (`$(hostname)`, `$1`, a variable
set outside the script, a glob). Nothing is guessed: a partly known text is unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# Characters that make an unquoted word a pattern (pathname expansion) rather than a fixed name.
_GLOB = set("*?[")
_NAME_START = re.compile(r"[A-Za-z_0-9{(@*#?$!-]")
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "e": "\x1b", "E": "\x1b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                   "v": "\v", "\\": "\\", "'": "'", '"': '"', "?": "?"}


@dataclass(frozen=True)
class Value:
    """A word's value: `text` None when it is not known before the command runs (`why` says why);
    `shown` is the word as written, for messages."""

    text: str | None
    shown: str
    why: str | None = None
    split: bool = False  # an unquoted expansion: the shell splits it into fields on blanks


@dataclass(frozen=True)
class Content:
    """What a command prints (or a file receives): text, or a copy of a path, or unknown (why)."""

    text: str | None
    how: str
    why: str | None = None
    copied_from: str | None = None


class Env:
    """The variables a script has set so far. A name maps to its text, or to None when it was set to
    something not known before the run; a name never set is unknown too (it may come from the
    caller's environment)."""

    def __init__(self, variables: Mapping[str, str | None] | None = None,
                 positional: list[str | None] | None = None) -> None:
        self.vars: dict[str, str | None] = dict(variables or {})
        self.positional = positional  # None: the script's own arguments, unknown

    def get(self, name: str) -> str | None:
        if name.isdigit():
            index = int(name)
            if index == 0 or self.positional is None:
                return None
            return self.positional[index - 1] if index <= len(self.positional) else ""
        return self.vars.get(name)


def text_of(node, src: bytes) -> str:
    return src[node.start_byte:node.end_byte].decode("utf-8", "replace")


def word(node, src: bytes, env: Env) -> Value:
    """The value of one argument node (word, string, raw_string, concatenation, expansion, ...)."""
    shown = text_of(node, src)
    parts: list[str] = []
    split = [False]
    why = _eval(node, src, env, parts, split, quoted=False)
    if why is None and _brace_expansion(node, src):
        why = f"brace expansion in {shown}"
    if why is not None:
        return Value(None, shown, why)
    return Value("".join(parts), shown, None, split[0])


def fields(node, src: bytes, env: Env) -> list[Value]:
    """The fields one argument becomes: an unquoted expansion is split on blanks (`$PKGS`)."""
    value = word(node, src, env)
    if value.text is None or not value.split:
        return [value]
    return [Value(piece, value.shown) for piece in value.text.split()]


def _eval(node, src: bytes, env: Env, out: list[str], split: list[bool], quoted: bool) -> str | None:
    """Append the node's text to `out`; return why it is unknown, or None."""
    kind = node.type
    if kind in ("word", "number", "variable_name"):
        raw = text_of(node, src)
        if not quoted:
            if raw.startswith("~"):
                return f"{raw} (a home directory)"
            if _GLOB & set(raw.replace("\\*", "").replace("\\?", "").replace("\\[", "")):
                return f"the pattern {raw}"
        out.append(unescape_unquoted(raw) if not quoted else raw)
        return None
    if kind == "raw_string":
        out.append(text_of(node, src)[1:-1])
        return None
    if kind == "ansi_c_string":
        out.append(c_escapes(text_of(node, src)[2:-1])[0])
        return None
    if kind in ("string", "translated_string"):
        return _eval_string(node, src, env, out)
    if kind == "concatenation":
        for child in node.children:
            why = _eval(child, src, env, out, split, quoted)
            if why:
                return why
        return None
    if kind in ("simple_expansion", "expansion"):
        value, why = expansion(node, src, env)
        if why:
            return why
        out.append(value or "")
        split[0] = split[0] or not quoted
        return None
    if kind == "string_content":
        out.append(_unescape_double(text_of(node, src)))
        return None
    return f"{text_of(node, src)[:60]} (known only when the command runs)"


def _eval_string(node, src: bytes, env: Env, out: list[str]) -> str | None:
    """A double-quoted string: its literal bytes between the child nodes count too (the grammar leaves
    newlines out of string_content)."""
    start, end = node.start_byte + 1, node.end_byte - 1
    if node.type == "translated_string":
        start += 1
    position = start
    for child in node.children:
        if child.start_byte < start or child.end_byte > end or child.type == '"':
            continue
        if child.start_byte > position:
            out.append(_unescape_double(src[position:child.start_byte].decode("utf-8", "replace")))
        if child.type == "string_content":
            out.append(_unescape_double(text_of(child, src)))
        else:
            why = _eval(child, src, env, out, [False], quoted=True)
            if why:
                return why
        position = child.end_byte
    if end > position:
        literal = src[position:end].decode("utf-8", "replace")
        if "`" in literal.replace("\\`", ""):
            return f"a `command` substitution in {text_of(node, src)[:60]}"
        out.append(_unescape_double(literal))
    return None


def expansion(node, src: bytes, env: Env) -> tuple[str | None, str | None]:
    """($X / ${X} / ${X:-word}) -> (value, why unknown)."""
    shown = text_of(node, src)
    names = [c for c in node.children if c.type in ("variable_name", "special_variable_name")]
    others = [c for c in node.named_children if c.type not in ("variable_name", "special_variable_name")]
    if len(names) != 1 or names[0].type == "special_variable_name" or others:
        # ${X:-default}, ${#X}, ${X%suffix}, $@, $?, arrays: only known with the run-time state.
        return None, f"{shown} (known only when the command runs)"
    value = env.get(text_of(names[0], src))
    if value is None:
        return None, f"{shown} (set outside the script)" if not shown.lstrip("${").split("}")[0].isdigit() \
            else f"{shown} (an argument of the script)"
    return value, None


def unescape_unquoted(raw: str) -> str:
    """Quote removal of an unquoted word: `\\x` -> `x`, backslash-newline vanishes."""
    out, i = [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            if raw[i + 1] != "\n":
                out.append(raw[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _unescape_double(raw: str) -> str:
    """Inside double quotes a backslash escapes only $ ` " \\ and newline."""
    out, i = [], 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw) and raw[i + 1] in '$`"\\\n':
            if raw[i + 1] != "\n":
                out.append(raw[i + 1])
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _brace_expansion(node, src: bytes) -> bool:
    """`x{,.bak}` / `{a,b}` unquoted: the grammar leaves them as words; the shell makes several fields."""
    if node.type not in ("concatenation", "word"):
        return False
    unquoted = "".join(text_of(c, src) for c in ([node] if node.type == "word" else node.children)
                       if c.type == "word")
    return "{" in unquoted and "}" in unquoted and ("," in unquoted or ".." in unquoted)


# ---------------------------------------------------------------------------------------
# Here-documents


def heredoc_text(body: str, env: Env, quoted: bool, strip_tabs: bool) -> tuple[str | None, str | None]:
    """The text a here-document feeds: literal when the delimiter is quoted; else with `$NAME`/`${NAME}`
    expanded and the backslash rules of an unquoted here-document (bash(1) "Here Documents"): `\\$`,
    `\\``, `\\\\` and backslash-newline are escapes, every other backslash stays. Anything else that
    expands (`$(...)`, `${X:-y}`, backticks, `$((...))`) is known only at run time. (text, why unknown)."""
    if strip_tabs:
        body = "\n".join(line.lstrip("\t") for line in body.split("\n"))
    if quoted:
        return body, None
    out, i = [], 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body) and body[i + 1] in "$`\\\n":
            if body[i + 1] != "\n":
                out.append(body[i + 1])
            i += 2
            continue
        if ch == "`":
            return None, f"a `command` substitution ({_line_at(body, i)})"
        if ch == "$" and i + 1 < len(body):
            match = _PARAMETER.match(body, i)
            if match is not None:
                name = match.group(1) or match.group(2)
                value = env.get(name)
                if value is None:
                    where = "an argument of the script" if name.isdigit() else "set outside the script"
                    return None, f"${name} ({where})"
                out.append(value)
                i = match.end()
                continue
            if _NAME_START.match(body[i + 1]):
                return None, f"{_line_at(body, i)} (known only when the command runs)"
        out.append(ch)
        i += 1
    return "".join(out), None


_PARAMETER = re.compile(r"\$(?:([A-Za-z_][A-Za-z0-9_]*|[0-9])|\{([A-Za-z_][A-Za-z0-9_]*|[0-9]+)\})")


def _line_at(text: str, i: int) -> str:
    return text[i:i + 40].split("\n", 1)[0]


# ---------------------------------------------------------------------------------------
# echo and printf


def c_escapes(text: str, stop_at_c: bool = False, octal_zero: bool = False) -> tuple[str, bool]:
    """Backslash escapes as `echo -e`, `printf` and $'...' read them: octal and hex escapes are bytes
    (`\\303\\251` is é in UTF-8). (text, stopped by \\c)."""
    out = bytearray()
    i = 0
    stopped = False
    while i < len(text):
        ch = text[i]
        if ch != "\\" or i + 1 >= len(text):
            out += ch.encode("utf-8", "replace")
            i += 1
            continue
        nxt = text[i + 1]
        if nxt in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[nxt].encode()
            i += 2
        elif nxt == "c" and stop_at_c:
            stopped = True
            break
        elif nxt in "01234567":
            j = i + 1 + (1 if octal_zero and nxt == "0" else 0)
            digits = ""
            while j < len(text) and len(digits) < 3 and text[j] in "01234567":
                digits += text[j]
                j += 1
            out.append(int(digits or "0", 8) & 0xFF)
            i = j
        elif nxt == "x" and i + 2 < len(text) and text[i + 2] in _HEX:
            j = i + 2
            while j < len(text) and j < i + 4 and text[j] in _HEX:
                j += 1
            out.append(int(text[i + 2:j], 16))
            i = j
        else:
            out += (ch + nxt).encode("utf-8", "replace")
            i += 2
    return out.decode("utf-8", "replace"), stopped


_HEX = "0123456789abcdefABCDEF"


def echo_text(args: list[str], shell: str) -> tuple[str | None, str | None]:
    """What `echo ARGS` prints, in bash or in /bin/sh (dash: no options but -n, escapes always read)."""
    newline, escapes, i = True, False, 0
    if shell == "bash":
        while i < len(args) and re.fullmatch(r"-[neE]+", args[i]):
            newline = newline and "n" not in args[i]
            escapes = "e" in args[i] and args[i].rfind("e") > args[i].rfind("E")
            i += 1
    else:
        if any("\\" in a for a in args) or (args and args[0] in ("-e", "-E")):
            return None, "echo with backslashes or -e prints differently in dash and bash (/bin/sh varies)"
        while i < len(args) and args[i] == "-n":
            newline, i = False, i + 1
    text = " ".join(args[i:])
    if escapes:
        text, stopped = c_escapes(text, stop_at_c=True, octal_zero=True)
        if stopped:
            return text, None
    return text + ("\n" if newline else ""), None


_SPEC = re.compile(r"%([-+ #0]*)(\d*)(?:\.(\d*))?([a-zA-Z%])")


def printf_text(fmt: str, args: list[str]) -> tuple[str | None, str | None]:
    """What `printf FMT ARGS` prints: the format's escapes, %% %s %b %c %d %i %u %o %x %X %f %e %g,
    reused while arguments remain (as printf(1) does)."""
    out: list[str] = []
    remaining = list(args)
    for _ in range(10_000):
        consumed = False
        position = 0
        for match in _SPEC.finditer(fmt):
            out.append(c_escapes(fmt[position:match.start()])[0])
            position = match.end()
            flags, width, precision, conversion = match.groups()
            if conversion == "%":
                out.append("%")
                continue
            arg = remaining.pop(0) if remaining else None
            consumed = consumed or arg is not None
            piece, why = _conversion(conversion, flags, width, precision, arg)
            if why:
                return None, why
            if conversion == "b" and piece is not None and "\\c" in (arg or ""):
                out.append(piece)
                return "".join(out), None
            out.append(piece or "")
        out.append(c_escapes(fmt[position:])[0])
        if not remaining or not consumed:
            return "".join(out), None
    return None, "printf output too long"


def _conversion(conversion: str, flags: str, width: str, precision: str | None,
                arg: str | None) -> tuple[str | None, str | None]:
    spec = "%" + flags + width + (f".{precision}" if precision is not None else "")
    if conversion in "sb":
        text = arg or ""
        if conversion == "b":
            text = c_escapes(text, stop_at_c=True, octal_zero=True)[0]
        return (spec + "s") % text, None
    if conversion == "c":
        return (spec + "s") % (arg or "")[:1], None
    try:
        if conversion in "diouxX":
            number = _integer(arg or "0")
            return (spec + ("d" if conversion in "iu" else conversion)) % number, None
        if conversion in "feEgG":
            return (spec + conversion) % float(arg or "0"), None
    except ValueError:
        return None, f"printf %{conversion} of {arg!r} (not a number)"
    return None, f"printf conversion %{conversion} is not read"


def _integer(text: str) -> int:
    """A printf integer argument: decimal, 0x hex, 0 octal, or 'c (the character's code)."""
    text = text.strip()
    if text[:1] in ("'", '"'):
        return ord(text[1]) if len(text) > 1 else 0
    sign, digits = (-1, text[1:]) if text.startswith("-") else (1, text.lstrip("+"))
    if digits.lower().startswith("0x"):
        return sign * int(digits[2:], 16)
    if digits.startswith("0") and len(digits) > 1:
        return sign * int(digits[1:], 8)
    return sign * int(digits, 10)


# ---------------------------------------------------------------------------------------
# Command words


def known_texts(args: list[Value]) -> tuple[list[str] | None, str | None]:
    unknown = next((a for a in args if a.text is None), None)
    if unknown is not None:
        return None, unknown.why
    return [a.text for a in args], None


def getopt(args: list[Value], with_value: set[str], long_with_value: set[str] = frozenset()
             ) -> tuple[dict[str, str], list[Value]]:
    """Split a command's words into options and operands, as getopt does (`-m644`, `-m 644`, `--mode=644`,
    combined flags `-pf`, `--` ends the options)."""
    options: dict[str, str] = {}
    operands: list[Value] = []
    i = 0
    while i < len(args):
        text = args[i].text
        if text is None or text == "-" or not text.startswith("-"):
            operands.append(args[i])
        elif text == "--":
            operands += args[i + 1:]
            break
        elif text.startswith("--"):
            name, eq, value = text.partition("=")
            if not eq and name in long_with_value and i + 1 < len(args):
                value, i = args[i + 1].text or "", i + 1
            options[name] = value
        else:
            for j, letter in enumerate(text[1:], start=1):
                if letter in with_value:
                    value = text[j + 1:]
                    if not value and i + 1 < len(args):
                        value, i = args[i + 1].text or "", i + 1
                    options["-" + letter] = value
                    break
                options["-" + letter] = ""
        i += 1
    return options, operands
