"""Rendered files read back into their statement structure, by the pack's readers and the daemons.

`shape(dialect, text)` reads a file the way the policy pack reads that dialect (readers/
bindconf, zonetext, postfixconf, dovecotconf, nginxconf, nftconf, ratelimitconf, opendkimconf,
mtasts; the pack's
own tree-sitter-bash grammar for scripts) and flattens it into a `Shape`: one key per
structural position (statement, word index, block, section, key) and the token found there.
Two renderings have the same structure when their keys are equal; a value then sits in the
tokens that change when only that value changes (`Reference`). Dialects the pack does not read
(PHP, systemd units, certbot's INI, argv lists) get a small reader here that follows the
format's manual.

The daemons' own checkers read the same files in `render_daemons`.
"""

from __future__ import annotations

import json
import re
import shlex
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.tokenizer
import yaml

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
if str(PACK_DIR) not in sys.path:  # the pack's modules import each other top-level, as under the CLI
    sys.path.insert(0, str(PACK_DIR))

from readers import (  # noqa: E402
    bindconf,
    dovecotconf,
    mtasts,
    nftconf,
    nginxconf,
    opendkimconf,
    postfixconf,
    ratelimitconf,
    shellwalk,
    zonetext,
)

Key = tuple


@dataclass(frozen=True)
class Shape:
    keys: tuple[Key, ...]
    tokens: tuple[str, ...]
    problems: tuple[str, ...] = ()

    @property
    def skeleton(self) -> tuple:
        return (self.keys, self.problems)


class Builder:
    def __init__(self) -> None:
        self.keys: list[Key] = []
        self.tokens: list[str] = []
        self.problems: list[str] = []

    def add(self, key: Key, token: object = "") -> None:
        self.keys.append(key)
        self.tokens.append(str(token))

    def shape(self) -> Shape:
        return Shape(tuple(self.keys), tuple(self.tokens), tuple(self.problems))


# ---------------------------------------------------------------------------------------
# The pack's readers


def _bind(text: str) -> Shape:
    statements, problems = bindconf.parse_statements(text)
    out = Builder()
    out.problems += problems

    def walk(block: list, path: tuple) -> None:
        for index, statement in enumerate(block):
            here = (*path, index)
            out.add(("stmt", here, len(statement.words), statement.block is not None))
            for position, word in enumerate(statement.words):
                out.add(("word", here, position), word)
            if statement.block is not None:
                walk(statement.block, here)

    walk(statements, ())
    return out.shape()


def zone_tokens(text: str, out: Builder) -> None:
    """Logical lines as BIND's master-file tokenizer sees them (dnspython's, as the pack uses)."""
    tokenizer = dns.tokenizer.Tokenizer(text)
    line, position = 0, 0
    try:
        while True:
            token = tokenizer.get(want_leading=True)
            if token.is_eof():
                break
            if token.is_eol():
                out.add(("eol", line, position))
                line, position = line + 1, 0
            elif token.is_whitespace():
                if position == 0:  # a leading blank means "same owner as the line before"
                    out.add(("blank", line))
            elif token.is_quoted_string() and position and out.keys[-1][-1] == token.ttype:
                # One TXT datum is a run of <character-string>s (RFC 1035 3.3.14): one token here.
                out.tokens[-1] += token.value
            else:
                out.add(("tok", line, position, token.ttype), token.value)
                position += 1
    except dns.exception.DNSException as error:
        out.problems.append(f"tokenizer: {error}")


def _zone(text: str) -> Shape:
    out = Builder()
    zone_tokens(text, out)
    origin = zonetext.origin_from_text(text) or "example.net"
    read = zonetext.read_zone(text, origin)
    out.problems += read.problems
    # What the pack's reader makes of it: how many records of each type, how many ranges.
    for rtype, count in sorted(Counter(r.rtype for r in read.records).items()):
        out.add(("records", rtype), count)
    out.add(("ranges",), len(read.ranges))
    return out.shape()


def _main_cf(text: str) -> Shape:
    out = Builder()
    out.problems += postfixconf.parse_main_cf(text).problems
    for index, (_, line) in enumerate(postfixconf.logical_lines(text)):
        name, _, value = line.partition("=")
        out.add(("param", index), name.strip())
        for position, word in enumerate(w for w in re.split(r"[\s,]+", value.strip()) if w):
            out.add(("value", index, position), word)
    return out.shape()


def _master_cf(text: str) -> Shape:
    master = postfixconf.parse_master_cf(text)
    out = Builder()
    out.problems += master.problems
    for index, service in enumerate(master.services):
        out.add(("service", index), service.name)
        out.add(("type", index), service.service_type)
        out.add(("command", index), service.command)
        out.add(("private", index), service.private)
        out.add(("chroot", index), service.chroot)
        for position, (name, value) in enumerate(service.overrides.items()):
            out.add(("-o", index, position), name)
            out.add(("-o value", index, position), value)
        for position, arg in enumerate(service.args):
            out.add(("arg", index, position), arg)
    return out.shape()


def _dovecot(text: str) -> Shape:
    parsed = dovecotconf.parse(text)
    out = Builder()
    out.problems += parsed.problems
    for index, entry in enumerate(parsed.entries):
        kind = type(entry).__name__
        if isinstance(entry, dovecotconf.Setting):
            out.add((kind, index, entry.section), entry.key)
            for position, word in enumerate(entry.value.split()):
                out.add(("value", index, position), word)
        elif isinstance(entry, dovecotconf.Include):
            out.add((kind, index, entry.section, entry.optional), entry.pattern)
        else:
            out.add((kind, index, entry.parent), entry.name)
    return out.shape()


def _nginx(text: str) -> Shape:
    config = nginxconf.parse(text)
    out = Builder()
    out.problems += config.problems

    def walk(block: list, path: tuple) -> None:
        for index, directive in enumerate(block):
            here = (*path, index)
            out.add(("directive", here, len(directive.args), directive.block is not None), directive.name)
            for position, arg in enumerate(directive.args):
                out.add(("arg", here, position), arg)
            if directive.block is not None:
                walk(directive.block, here)

    walk(config.directives, ())
    return out.shape()


def _nft(text: str) -> Shape:
    out = Builder()
    for index, token in enumerate(nftconf.lex(text)):
        out.add(("tok", index, token.kind), token.value)
        for position, element in enumerate(token.elements):
            out.add(("element", index, position), element)
    ruleset = nftconf.parse_ruleset(text)
    out.problems += ruleset.problems
    for (family, table, name), chain in sorted(ruleset.chains.items()):
        out.add(("chain", family, table, name, chain.hook, chain.policy), len(chain.rules))
    for key, elements in sorted(ruleset.sets.items()):
        out.add(("set", *key), len(elements))
    return out.shape()


def _yaml_tree(node: object, path: tuple, out: Builder) -> None:
    if isinstance(node, dict):
        out.add(("map", path, len(node)))
        for index, (key, value) in enumerate(node.items()):
            out.add(("key", path, index, type(key).__name__), key)
            _yaml_tree(value, (*path, index), out)
    elif isinstance(node, list):
        out.add(("list", path, len(node)))
        for index, value in enumerate(node):
            _yaml_tree(value, (*path, index), out)
    else:
        out.add(("leaf", path, type(node).__name__), node)


def _ratelimit(text: str) -> Shape:
    out = Builder()
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        out.problems.append(f"yaml: {error}")
        return out.shape()
    out.problems += ratelimitconf.parse_rate_limit_yaml(text).problems
    _yaml_tree(document, (), out)
    return out.shape()


# Named leaves of tree-sitter-bash whose text is a word of the script.
_SHELL_TEXT_NODES = {"word", "raw_string", "string_content", "number", "variable_name", "special_variable_name",
                     "heredoc_body", "heredoc_content", "comment", "regex", "extglob_pattern", "ansi_c_string"}


def _shell(text: str) -> Shape:
    """The script's syntax tree in the grammar the pack reads scripts with (tree-sitter-bash)."""
    out = Builder()
    if not shellwalk.available():
        out.problems.append("tree-sitter-bash is not installed")
        return out.shape()
    source = text.encode("utf-8", "surrogatepass")
    tree = shellwalk._parser().parse(source)  # the pack's own parser instance
    if tree.root_node.has_error:
        out.problems.append("tree-sitter-bash: syntax error")
    index = 0
    stack = [(tree.root_node, 0)]
    while stack:
        node, depth = stack.pop()
        token = source[node.start_byte:node.end_byte].decode("utf-8", "replace") \
            if node.type in _SHELL_TEXT_NODES else ""
        out.add(("node", index, depth, node.type, node.child_count), token)
        index += 1
        stack.extend((child, depth + 1) for child in reversed(node.children))
    return out.shape()


# ---------------------------------------------------------------------------------------
# Dialects the pack does not read: small readers that follow the manuals


# PHP: enough of the lexer (php.net "Tokens") for a config file of assignments and literals.
_PHP_TOKEN = re.compile(
    r"""(?P<open><\?php\b|<\?=)|(?P<close>\?>)|(?P<comment>//[^\n]*?(?=\?>|\n|$)|\#[^\n]*?(?=\?>|\n|$)|/\*.*?\*/)"""
    r"""|(?P<single>'(?:[^'\\]|\\.)*')|(?P<double>"(?:[^"\\]|\\.)*")|(?P<variable>\$[A-Za-z_][A-Za-z0-9_]*)"""
    r"""|(?P<word>[A-Za-z_][A-Za-z0-9_]*)|(?P<number>[0-9]+)|(?P<space>\s+)|(?P<punct>[^\s])""",
    re.S,
)


def php_tokens(text: str) -> list[tuple[str, str]]:
    tokens, position, in_php = [], 0, False
    while position < len(text):
        if not in_php:
            start = text.find("<?php", position)
            if start < 0:
                tokens.append(("inline_html", text[position:]))
                break
            if start > position:
                tokens.append(("inline_html", text[position:start]))
            position, in_php = start, True
        match = _PHP_TOKEN.match(text, position)
        kind = match.lastgroup
        if kind == "close":
            in_php = False
        if kind not in ("space", "comment"):
            tokens.append((kind, match.group()))
        position = match.end()
    return tokens


def _php(text: str) -> Shape:
    out = Builder()
    for index, (kind, value) in enumerate(php_tokens(text)):
        if kind == "single":  # the literal's value, unescaped as PHP does
            value = re.sub(r"\\([\\'])", r"\1", value[1:-1])
        out.add((kind, index), value)
    return out.shape()


def _unit_lines(text: str) -> list[tuple[int, str]]:
    """systemd.syntax(7): `#`/`;` comments at a line's start, a trailing `\\` continues the line."""
    out: list[tuple[int, str]] = []
    pending = ""
    for number, raw in enumerate(text.split("\n")):
        line = raw.strip(" \t")
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        out.append((number, pending + line))
        pending = ""
    if pending:
        out.append((-1, pending))
    return out


def _systemd(text: str) -> Shape:
    out = Builder()
    section = ""
    for index, (_, line) in enumerate(_unit_lines(text)):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            out.add(("section", index), section)
            continue
        key, sep, value = line.partition("=")
        if not sep:
            out.problems.append(f"not key=value: {line[:60]!r}")
        out.add(("key", index, section), key.strip())
        if key.strip().startswith("Exec"):  # a command line: systemd splits it into words
            try:
                words = shlex.split(value)
            except ValueError:
                words = value.split()
        else:  # any other setting takes the rest of the line as one value
            words = [value.strip()]
        for position, word in enumerate(words):
            out.add(("value", index, position), word)
    return out.shape()


def _ini(text: str) -> Shape:
    """certbot's credentials file (configobj): `key = value` lines, `#` comments."""
    out = Builder()
    for index, line in enumerate(l.strip() for l in text.split("\n")):  # noqa: E741
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            out.problems.append(f"not key = value: {line[:60]!r}")
        out.add(("key", index), key.strip())
        for position, word in enumerate(value.split()):
            out.add(("value", index, position), word)
    return out.shape()


def _argv(text: str) -> Shape:
    out = Builder()

    def walk(node: object, path: tuple) -> None:
        if isinstance(node, list):
            out.add(("list", path, len(node)))
            for index, item in enumerate(node):
                walk(item, (*path, index))
        else:
            out.add(("arg", path), node)

    walk(json.loads(text), ())
    return out.shape()


# OpenDKIM (readers/opendkimconf): opendkim.conf and its tables are read line by line, `#` starts
# a comment anywhere. Each line's words are positions too, so a value that adds a line or a word
# changes the structure even where the reader keeps one entry of a name (last conf setting, first
# KeyTable name). Comments are tokens: a value written into one must stay inside it.


def _opendkim_lines(text: str, out: Builder) -> None:
    for number, raw in enumerate(text.splitlines(), 1):
        line, hash_sign, comment = raw.partition("#")
        words = line.split()
        out.add(("line", number, len(words), bool(hash_sign)), comment)
        for position, word in enumerate(words):
            out.add(("word", number, position), word)


_OPENDKIM_DATASETS = ("keytable", "signingtable", "internalhosts", "externalignorelist")


def _opendkim_conf(text: str) -> Shape:
    conf = opendkimconf.parse(text)
    out = Builder()
    out.problems += conf.problems
    _opendkim_lines(text, out)
    for index, (name, (value, line)) in enumerate(conf.settings.items()):
        out.add(("setting", index, line), name)
        if name in _OPENDKIM_DATASETS:  # opendkim(8) datasets: kind and what it names
            found = opendkimconf.dataset(value)
            out.add(("dataset", index, found.kind, len(found.items)), found.path or ",".join(found.items))
    out.add(("signs", conf.signs, conf.single_key))
    return out.shape()


def _key_table(text: str) -> Shape:
    keys, problems = opendkimconf.parse_key_table(text)
    out = Builder()
    out.problems += problems
    _opendkim_lines(text, out)
    for index, key in enumerate(keys.values()):
        out.add(("key", index, key.line, key.key_is_file), key.name)
        out.add(("d=", index), key.domain)
        out.add(("s=", index), key.selector)
        out.add(("key file", index), key.key)
    return out.shape()


def _signing_table(text: str) -> Shape:
    out = Builder()
    _opendkim_lines(text, out)
    for index, entry in enumerate(opendkimconf.parse_signing_table(text)):
        out.add(("pattern", index, entry.line, entry.pattern.count("*")), entry.pattern)
        out.add(("key name", index), entry.key_name)
    return out.shape()


def _peer_list(text: str) -> Shape:
    """A dataset file (InternalHosts): the words of each line, as the pack reads a file dataset
    (hostview/mailsigning); `!` negates an entry (opendkim.conf(5) PeerList)."""
    out = Builder()
    _opendkim_lines(text, out)
    entries = [w for line in text.splitlines() for w in line.split("#", 1)[0].split()]
    for index, entry in enumerate(entries):
        out.add(("entry", index, entry.startswith("!")), entry)
    return out.shape()


def _mta_sts_policy(text: str) -> Shape:
    """RFC 8461 §3.2 as readers/mtasts reads it (its errors are problems), and each line's field."""
    policy = mtasts.parse_policy(text)
    out = Builder()
    out.problems += policy.errors
    for number, line in enumerate(text.split("\n")):
        name, colon, value = line.partition(":")
        out.add(("field", number, name, bool(colon), len(value.split())), value.strip())
    out.add(("version",), policy.version)
    out.add(("mode",), policy.mode)
    out.add(("max_age",), policy.max_age)
    for index, pattern in enumerate(policy.mx):
        out.add(("mx", index, pattern.startswith("*.")), pattern)
    return out.shape()


READERS = {
    "bind": _bind, "zone": _zone, "postfix": _main_cf, "master": _master_cf, "dovecot": _dovecot,
    "nginx": _nginx, "nft": _nft, "yaml": _ratelimit, "php": _php, "shell": _shell, "sh": _shell,
    "systemd": _systemd, "ini": _ini, "argv": _argv, "opendkim": _opendkim_conf, "keytable": _key_table,
    "signingtable": _signing_table, "peerlist": _peer_list, "mtasts": _mta_sts_policy,
}


def shape(dialect: str, text: str) -> Shape:
    return READERS[dialect](text)


# ---------------------------------------------------------------------------------------
# Comparing a rendering with the benign ones


@dataclass
class Reference:
    """Benign renderings of one field, grouped by structure; within a group, the token
    positions where they differ are where the field's value goes (its slots)."""

    groups: dict[tuple, tuple[Shape, set[int]]] = field(default_factory=dict)

    @classmethod
    def of(cls, shapes: list[Shape]) -> Reference:
        reference = cls()
        for one in shapes:
            if one.problems:
                raise AssertionError(f"a benign rendering reads with problems: {one.problems}")
            if one.skeleton not in reference.groups:
                reference.groups[one.skeleton] = (one, set())
                continue
            first, slots = reference.groups[one.skeleton]
            slots.update(i for i, (a, b) in enumerate(zip(first.tokens, one.tokens, strict=True)) if a != b)
        return reference

    def mismatch(self, candidate: Shape, expect: str | None = None) -> str | None:
        """None when `candidate` has a benign rendering's structure, differs only in that
        rendering's value slots, and (given `expect`) holds `expect` inside one slot token."""
        group = self.groups.get(candidate.skeleton)
        if group is None:
            return self._nearest(candidate)
        first, slots = group
        for i, (a, b) in enumerate(zip(first.tokens, candidate.tokens, strict=True)):
            if a != b and i not in slots:
                return f"outside the value's place, {first.keys[i]} changed from {a!r} to {b!r}"
        if expect is not None and slots and not any(expect in candidate.tokens[i] for i in slots):
            return f"the value {expect!r} is not inside one token; value tokens: " + repr(
                [candidate.tokens[i] for i in sorted(slots)][:6]
            )
        return None

    def _nearest(self, candidate: Shape) -> str:
        if candidate.problems:
            return f"the reader reports problems: {list(candidate.problems)[:3]}"
        best = min((g[0] for g in self.groups.values()), key=lambda s: abs(len(s.keys) - len(candidate.keys)))
        for i, (a, b) in enumerate(zip(best.keys, candidate.keys)):  # noqa: B905 - lengths may differ
            if a != b:
                return (f"structure differs at {b} (token {candidate.tokens[i]!r}); a benign rendering has {a} "
                        f"(token {best.tokens[i]!r})")
        return f"structure differs: {len(candidate.keys)} positions, a benign rendering has {len(best.keys)}"
