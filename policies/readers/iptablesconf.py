"""iptables and ip6tables: `iptables-save` files and `iptables` commands, read into the nftables model.

Sources as operators deliver them: `iptables-save`/`iptables-restore` files (Debian's
iptables-persistent `/etc/iptables/rules.v4` and `rules.v6`, `/etc/sysconfig/iptables`) with
`*table`, `:CHAIN POLICY [packets:bytes]`, rule commands and `COMMIT`; and `iptables`/
`ip6tables` (also `-legacy`/`-nft`) commands in shell text (`read_script`, through
`readers.shellflow`: variables, loops, functions, `case "$1"`), with `iptables-restore` of a
file or a heredoc, and `ipset` sets.

`Netfilter` replays them in order, as the kernel would be left: `-A`, `-I [n]`, `-D`, `-R`,
`-F`, `-N`, `-X`, `-P`, `-E`; a restored table replaces that table (unless `--noflush`); a
table without `COMMIT` is not applied. `ruleset()` gives the model an nftables file gives
(`readers.nftconf`), each rule as `iptables-translate` would write it (`readers.iptablesrule`),
keeping the operator's line for messages; built-in chains become base chains at iptables'
priorities.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field

from readers import iptablesrule, nftconf, shellflow
from readers.shellwords import find_calls

IPV4_TOOLS = frozenset({"iptables", "iptables-legacy", "iptables-nft"})
IPV6_TOOLS = frozenset({"ip6tables", "ip6tables-legacy", "ip6tables-nft"})
RESTORE_TOOLS = {"iptables-restore": "ip", "iptables-legacy-restore": "ip", "iptables-nft-restore": "ip",
                 "ip6tables-restore": "ip6", "ip6tables-legacy-restore": "ip6", "ip6tables-nft-restore": "ip6",
                 "iptables-apply": "ip", "ip6tables-apply": "ip6"}
TOOLS = IPV4_TOOLS | IPV6_TOOLS | frozenset(RESTORE_TOOLS) | {"ipset"}
_APPLY_DEFAULT = {"iptables-apply": "/etc/network/iptables.up.rules",
                  "ip6tables-apply": "/etc/network/ip6tables.up.rules"}

_VERBS = {"-A": "append", "--append": "append", "-I": "insert", "--insert": "insert", "-D": "delete",
          "--delete": "delete", "-R": "replace", "--replace": "replace", "-F": "flush", "--flush": "flush",
          "-N": "new", "--new-chain": "new", "-X": "delete-chain", "--delete-chain": "delete-chain",
          "-P": "policy", "--policy": "policy", "-E": "rename", "--rename-chain": "rename",
          "-L": "read", "--list": "read", "-S": "read", "--list-rules": "read", "-C": "read", "--check": "read",
          "-Z": "read", "--zero": "read", "-h": "read", "--help": "read", "-V": "read", "--version": "read"}
_QUIET = {"-v", "--verbose", "-n", "--numeric", "-x", "--exact", "--line-numbers"}
_COUNTERS = re.compile(r"^\[\d+:\d+\]\s*")


@dataclass(frozen=True)
class Op:
    """One iptables command, from a command line or a line of a save file."""

    family: str  # ip / ip6; "" inside a save file (the restoring tool decides)
    table: str
    verb: str  # append insert delete replace flush new delete-chain policy rename read
    chain: str = ""
    position: int | None = None
    spec: tuple[str, ...] = ()
    arg: str = ""  # the policy, or a chain's new name
    text: str = ""
    line: int = 0
    problem: str = ""
    only: str = ""  # `-4` / `-6`: for that family only


def parse_op(args: list[str] | tuple[str, ...], family: str = "", line: int = 0, text: str = "",
             table: str = "filter") -> Op:
    """An iptables command line (its words after the tool's name), per iptables(8)."""
    args = list(args)
    rest: list[str] = []
    verb, operands, only = "", [], ""
    i = 0
    while i < len(args):
        word = args[i]
        if word in ("-t", "--table") and i + 1 < len(args):
            table, i = args[i + 1], i + 2
        elif word.startswith("--table="):
            table, i = word.split("=", 1)[1], i + 1
        elif word in ("-w", "--wait"):
            i += 2 if i + 1 < len(args) and args[i + 1].isdigit() else 1
        elif word in ("-W", "--wait-interval", "--modprobe"):
            i += 2
        elif word.startswith(("--wait=", "--modprobe=", "--wait-interval=")) or word in _QUIET:
            i += 1
        elif word in ("-4", "--ipv4", "-6", "--ipv6"):
            only, i = ("ip" if "4" in word else "ip6"), i + 1
        elif not verb and word in _VERBS:
            verb, i = _VERBS[word], i + 1
            wanted = {"append": 1, "insert": 1, "delete": 1, "replace": 2, "new": 1, "policy": 2, "rename": 2}
            count = wanted.get(verb, 1 if i < len(args) and not args[i].startswith("-") else 0)
            operands, i = args[i: i + count], i + count
            if verb in ("insert", "delete") and i < len(args) and args[i].isdigit():
                operands.append(args[i])
                i += 1
        else:
            rest.append(word)
            i += 1
    base = Op(family, table, verb or "read", text=text, line=line, only=only)
    if not verb:
        return _with(base, problem="no command (-A, -I, -D, -F, -N, -P ...)")
    if verb in ("append", "insert", "delete", "replace", "new", "policy", "rename") and not operands:
        return _with(base, problem=f"{verb} without a chain")
    chain = operands[0] if operands else ""
    position = int(operands[1]) if len(operands) > 1 and operands[1].isdigit() else None
    if verb == "replace" and position is None:
        return _with(base, problem="replace without a rule number")
    arg = operands[1] if verb in ("policy", "rename") and len(operands) > 1 else ""
    return Op(family, table, verb, chain, position, tuple(rest), arg, text, line, "", only)


def _with(op: Op, **changes) -> Op:
    values = {name: getattr(op, name) for name in op.__dataclass_fields__}
    values.update(changes)
    return Op(**values)


# ---------------------------------------------------------------------------------------
# iptables-save files


@dataclass(frozen=True)
class Block:
    """`*table` ... `COMMIT` of a save file."""

    table: str
    chains: tuple[tuple[str, str], ...]  # (name, policy); "-" for a user chain
    ops: tuple[Op, ...]
    line: int
    committed: bool


@dataclass(frozen=True)
class SaveFile:
    blocks: tuple[Block, ...]
    problems: tuple[str, ...] = ()
    family_hint: str | None = None  # from the addresses it names, when they are of one family


def looks_like_save(text: str) -> bool:
    """An iptables-save file (rather than a shell script)."""
    return bool(re.search(r"^\s*\*(filter|nat|mangle|raw|security)\s*$", text or "", re.MULTILINE))


def parse_save(text: str, first_line: int = 1) -> SaveFile:
    blocks: list[Block] = []
    problems: list[str] = []
    table, chains, ops, start = "", [], [], 0
    for number, raw in enumerate((text or "").splitlines(), start=first_line):
        line = _COUNTERS.sub("", raw.strip())
        if not line or line.startswith("#"):
            continue
        if line.startswith("*"):
            if table:
                problems.append(f"line {start}: table {table} has no COMMIT (iptables-restore applies none of it)")
                blocks.append(Block(table, tuple(chains), tuple(ops), start, False))
            table, chains, ops, start = line[1:].strip(), [], [], number
        elif line == "COMMIT":
            if table:
                blocks.append(Block(table, tuple(chains), tuple(ops), start, True))
            table = ""
        elif not table:
            problems.append(f"line {number}: '{line}' is outside a *table section")
        elif line.startswith(":"):
            parts = line[1:].split()
            if parts:
                chains.append((parts[0], parts[1] if len(parts) > 1 else "-"))
        else:
            words = _split(line)
            if words is None:
                problems.append(f"line {number}: unbalanced quotes in '{line}'")
                continue
            op = parse_op(words, "", number, line, table)
            if op.problem:
                problems.append(f"line {number}: '{line}': {op.problem}")
            elif op.verb != "read":
                ops.append(op)
    if table:
        problems.append(f"line {start}: table {table} has no COMMIT (iptables-restore applies none of it)")
        blocks.append(Block(table, tuple(chains), tuple(ops), start, False))
    return SaveFile(tuple(blocks), tuple(problems), _family_hint(blocks))


def _family_hint(blocks: list[Block]) -> str | None:
    seen = set()
    for block in blocks:
        for op in block.ops:
            for index, word in enumerate(op.spec[:-1]):
                if word in ("-s", "-d", "--source", "--destination", "--src", "--dst", "--to-destination",
                            "--to-source", "--to"):
                    value = op.spec[index + 1]
                    seen.add("ip6" if value.count(":") > 1 else "ip" if re.match(r"^\d+\.\d+\.", value) else "")
                elif word == "--reject-with" and op.spec[index + 1].startswith("icmp"):
                    seen.add("ip6" if "icmp6" in op.spec[index + 1] else "ip")
    seen.discard("")
    return seen.pop() if len(seen) == 1 else None


def _split(text: str) -> list[str] | None:
    try:
        return shlex.split(text)
    except ValueError:
        return None


# ---------------------------------------------------------------------------------------
# Shell text


@dataclass(frozen=True)
class Restore:
    """`iptables-restore` of a file or a heredoc."""

    family: str
    path: str | None
    save: SaveFile | None
    noflush: bool
    tables: tuple[str, ...]  # `-T table`: only those
    line: int
    text: str


@dataclass(frozen=True)
class SetOp:
    """An `ipset` command: create / add / del / flush / destroy."""

    verb: str
    name: str
    value: str
    line: int
    text: str


@dataclass(frozen=True)
class Script:
    steps: tuple[Op | Restore | SetOp, ...]
    problems: tuple[str, ...] = ()


def read_script(text: str) -> Script:
    """The iptables, iptables-restore and ipset commands that shell `text` runs, in order."""
    steps: list[Op | Restore | SetOp] = []
    problems: list[str] = []
    if not isinstance(text, str) or "tables" not in text and "ipset" not in text:
        return Script(())
    for line in shellflow.flatten(text):
        for call in find_calls(line.text, TOOLS):
            number = line.number + call.line - 1
            if call.tool in IPV4_TOOLS or call.tool in IPV6_TOOLS:
                op = parse_op(call.args, "ip6" if call.tool in IPV6_TOOLS else "ip", number, call.text)
                if op.problem:
                    problems.append(f"line {number}: '{call.text}': {op.problem}")
                elif op.verb != "read":
                    steps.append(op)
            elif call.tool in RESTORE_TOOLS:
                restore = _restore(call, line, number)
                if restore is not None:
                    steps.append(restore)
            else:
                steps.extend(_ipset(call.args, number, call.text, line))
    return Script(tuple(steps), tuple(problems))


def _restore(call, line: shellflow.Line, number: int) -> Restore | None:
    args = list(call.args)
    if {"-t", "--test"} & set(args):
        return None  # checks the file, changes nothing
    noflush = bool({"-n", "--noflush"} & set(args))
    tables = tuple(args[i + 1] for i, a in enumerate(args[:-1]) if a in ("-T", "--table"))
    positional = [a for i, a in enumerate(args) if not a.startswith("-")
                  and (i == 0 or args[i - 1] not in ("-T", "--table", "-M", "--modprobe", "-W", "-w", "-t"))]
    path = positional[0] if positional else None
    if path is None:
        after = line.text[line.text.find(call.tool):]
        redirect = re.search(r"(?<![<0-9])<(?!<)\s*([^\s<>|;&]+)", after)
        piped = re.search(r"\bcat\s+([^\s|;&]+)\s*\|\s*\S*" + re.escape(call.tool) + r"\b", line.text)
        path = redirect.group(1) if redirect else piped.group(1) if piped else _APPLY_DEFAULT.get(call.tool)
    save = None
    if path is None and line.heredoc is not None:
        body = line.heredoc
        save = parse_save("\n".join(t for _, t in body), body[0][0] if body else number + 1)
    if path is None and save is None:
        return None
    return Restore(RESTORE_TOOLS[call.tool], path, save, noflush, tables, number, call.text)


def _ipset(args, number: int, text: str, line: shellflow.Line) -> list[SetOp]:
    words = [a for a in args if a not in ("-exist", "-!", "-q", "-quiet")]
    if words and words[0] == "restore" and line.heredoc:
        out = []
        for inner_number, inner in line.heredoc:
            inner_words = _split(inner) or []
            out.extend(_ipset(inner_words, inner_number, inner, shellflow.Line(inner_number, inner)))
        return out
    verbs = {"create": "create", "-N": "create", "n": "create", "add": "add", "-A": "add", "a": "add",
             "del": "del", "-D": "del", "d": "del", "flush": "flush", "-F": "flush", "destroy": "destroy",
             "-X": "destroy", "x": "destroy"}
    if not words or words[0] not in verbs:
        return []
    verb = verbs[words[0]]
    name = words[1] if len(words) > 1 else ""
    value = " ".join(words[2:]) if verb == "create" else (words[2] if len(words) > 2 else "")
    return [SetOp(verb, name, value, number, text)]


# ---------------------------------------------------------------------------------------
# Replaying: the tables one host is left with


@dataclass
class _Entry:
    spec: tuple[str, ...]
    text: str
    where: str
    line: int
    urn: str


@dataclass
class _Chain:
    policy: str | None  # ACCEPT / DROP for a built-in chain, None for a user chain
    rules: list[_Entry] = field(default_factory=list)


@dataclass
class _Set:
    family: str
    kind: str
    elements: list[str] = field(default_factory=list)


class Netfilter:
    """The iptables/ip6tables tables of one host, as a sequence of commands and restores leaves them."""

    def __init__(self) -> None:
        self.tables: dict[tuple[str, str], dict[str, _Chain]] = {}
        self.sets: dict[str, _Set] = {}
        self.problems: list[str] = []

    def _table(self, family: str, table: str) -> dict[str, _Chain] | None:
        if table not in iptablesrule.BUILTIN:
            return None
        if (family, table) not in self.tables:
            self.tables[(family, table)] = {name: _Chain("ACCEPT") for name in iptablesrule.BUILTIN[table]}
        return self.tables[(family, table)]

    def _problem(self, where: str, line: int, text: str, why: str) -> None:
        self.problems.append(f"{where}, line {line}: '{text}': {why}")

    def apply(self, op: Op, where: str, urn: str, family: str = "") -> None:
        family = op.family or family or "ip"
        if op.verb == "read" or (op.only and op.only != family):
            return
        chains = self._table(family, op.table)
        if chains is None:
            self._problem(where, op.line, op.text, f"no table {op.table!r}")
            return
        chain = chains.get(op.chain)
        entry = _Entry(op.spec, op.text, where, op.line, urn)
        if op.verb in ("append", "insert", "delete", "replace", "policy", "rename") and chain is None:
            self._problem(where, op.line, op.text, f"chain {op.chain} does not exist (iptables refuses the command)")
            return
        if op.verb == "append":
            chain.rules.append(entry)
        elif op.verb == "insert":
            at = (op.position or 1) - 1
            if at > len(chain.rules):
                self._problem(where, op.line, op.text, "insert position past the end of the chain")
                return
            chain.rules.insert(at, entry)
        elif op.verb == "replace" and op.position is not None and 0 < op.position <= len(chain.rules):
            chain.rules[op.position - 1] = entry
        elif op.verb == "delete":
            if op.position is not None:
                if 0 < op.position <= len(chain.rules):
                    del chain.rules[op.position - 1]
            else:
                found = next((i for i, r in enumerate(chain.rules) if r.spec == op.spec), None)
                if found is not None:
                    del chain.rules[found]
        elif op.verb == "flush":
            for name, each in chains.items():
                if not op.chain or name == op.chain:
                    each.rules.clear()
        elif op.verb == "new":
            chains.setdefault(op.chain, _Chain(None))
        elif op.verb == "delete-chain":
            for name in [n for n, c in chains.items() if c.policy is None and (not op.chain or n == op.chain)]:
                if not chains[name].rules:
                    del chains[name]
        elif op.verb == "policy" and chain.policy is not None:
            chain.policy = op.arg.upper()
        elif op.verb == "rename" and chain.policy is None:
            chains[op.arg] = chains.pop(op.chain)

    def restore(self, save: SaveFile, family: str, where: str, urn: str, noflush: bool = False,
                tables: tuple[str, ...] = ()) -> None:
        self.problems.extend(f"{where}, {p}" for p in save.problems)
        for block in save.blocks:
            if not block.committed or (tables and block.table not in tables):
                continue
            chains = self._table(family, block.table)
            if chains is None:
                self.problems.append(f"{where}, line {block.line}: no table {block.table!r}")
                continue
            if not noflush:
                chains.clear()
                chains.update({name: _Chain("ACCEPT") for name in iptablesrule.BUILTIN[block.table]})
            for name, policy in block.chains:
                if name in iptablesrule.BUILTIN[block.table]:
                    chains[name].policy = policy.upper() if policy != "-" else "ACCEPT"
                else:
                    chains.setdefault(name, _Chain(None))
            for op in block.ops:
                self.apply(op, where, urn, family)

    def ipset(self, op: SetOp, where: str) -> None:
        if op.verb == "create":
            words = op.value.split()
            family = "ip6" if "inet6" in words else "ip"
            self.sets[op.name] = _Set(family, words[0] if words else "")
        elif op.verb in ("add", "del") and op.name in self.sets:
            elements = self.sets[op.name].elements
            if op.verb == "add":
                elements.append(op.value)
            elif op.value in elements:
                elements.remove(op.value)
        elif op.verb in ("add", "del"):
            self.problems.append(f"{where}, line {op.line}: '{op.text}': ipset {op.name} was not created")
        elif op.verb == "flush":
            for name, each in self.sets.items():
                if not op.name or name == op.name:
                    each.elements.clear()
        elif op.verb == "destroy":
            for name in [n for n in self.sets if not op.name or n == op.name]:
                del self.sets[name]

    def run(self, steps, where: str, urn: str, files: Callable[[str], tuple[SaveFile, str, str] | None]) -> None:
        """Replay a script's steps; `files(path)` gives a restored file's parse, label and urn."""
        for step in steps:
            if isinstance(step, Op):
                self.apply(step, where, urn)
            elif isinstance(step, SetOp):
                self.ipset(step, where)
            elif step.save is not None:
                self.restore(step.save, step.family, where, urn, step.noflush, step.tables)
            else:
                found = files(step.path)
                if found is None:
                    self.problems.append(f"{where}, line {step.line}: '{step.text}' restores {step.path}, which "
                                         "the stack does not deliver to this host (its rules are not known)")
                else:
                    save, label, file_urn = found
                    self.restore(save, step.family, label, file_urn, step.noflush, step.tables)

    def ruleset(self, resolve: Callable[[str], list[str] | None] | None = None) -> nftconf.Ruleset:
        """The tables as the nftables model: one chain per iptables chain, rules translated."""
        rs = nftconf.Ruleset()
        for (family, table), chains in self.tables.items():
            for name, s in self.sets.items():
                if s.family == family and iptablesrule.address_set_type(s.kind):
                    rs.sets[(family, table, name)] = list(s.elements)
            parents = _reached_from(chains, table)
            tool = "ip6tables" if family == "ip6" else "iptables"
            for name, chain in chains.items():
                builtin = iptablesrule.BUILTIN[table].get(name)
                if builtin is not None and not chain.rules and chain.policy == "ACCEPT":
                    continue  # an empty ACCEPT chain changes nothing; a host firewall is not a router
                title = f"{tool} {name}" if table == "filter" else f"{tool} -t {table} {name}"
                out = nftconf.Chain(family, table, name, None, None, 0, (chain.policy or "accept").lower(), [], title)
                if builtin is not None:
                    out.chain_type = "nat" if table == "nat" else "filter"
                    out.hook, out.priority = builtin
                context = iptablesrule.Context(family, table, parents.get(name, name), frozenset(chains), resolve)
                for entry in chain.rules:
                    words, problems = iptablesrule.rule_words(entry.spec, context)
                    out.rules.append(nftconf.Rule(name, words, entry.line, entry.where, entry.urn, entry.text))
                    rs.problems.extend(f"{entry.where}, line {entry.line}: '{entry.text}': {p}" for p in problems)
                rs.chains[(family, table, name)] = out
        rs.problems.extend(self.problems)
        return rs


def _reached_from(chains: dict[str, _Chain], table: str) -> dict[str, str]:
    """user chain -> the built-in chain that first reaches it (NETMAP's direction depends on it)."""
    parent: dict[str, str] = {}
    todo = [(name, name) for name in iptablesrule.BUILTIN[table] if name in chains]
    while todo:
        name, root = todo.pop(0)
        for entry in chains[name].rules:
            target = iptablesrule.jump_target(entry.spec)
            if target in chains and target not in parent and chains[target].policy is None:
                parent[target] = root
                todo.append((target, root))
    return parent
