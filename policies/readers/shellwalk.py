"""The walk of a parsed shell text for `readers.shellscript`: statements in the order bash runs them.

The tree comes from tree-sitter-bash. Where it and bash could disagree the walk stops and says so:
an ERROR or missing node, a here-document whose delimiter the grammar finds where bash would not
(the body is then blanked out and the text parsed again, so the lines after it are read as bash
reads them). Trailing redirections the grammar hangs on a whole `a && b > F` list are given to
the last simple command, as bash does. Variables, `cd`, functions, loops over literal words and
conditional branches are followed here; what each command does is in `readers.shellcommands`.
"""

from __future__ import annotations

import contextlib
import posixpath
import threading
from dataclasses import dataclass, field

from readers import shellcommands
from readers.shellcommands import Stop
from readers.shellexpand import Content, Env, Value, fields, heredoc_text, text_of

try:
    import tree_sitter_bash
    from tree_sitter import Language, Parser
    _LANGUAGE = Language(tree_sitter_bash.language())
except ImportError:  # pragma: no cover - requirements.txt pins both
    _LANGUAGE = None

MAX_TEXT = 1_000_000  # bytes of shell text read; the rest is noted, not judged
MAX_DEPTH = 150  # nesting of statements the walker follows
MAX_NESTED = 4  # sh -c inside sh -c inside ...
MAX_STEPS = 50_000  # statements visited (loops and function calls repeat them)
MAX_LOOP = 32  # values a `for` loop is unrolled over
MAX_REPARSE = 16  # here-documents the grammar cuts short, fixed by parsing again


_local = threading.local()


def available() -> bool:
    return _LANGUAGE is not None


def _parser():
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = Parser(_LANGUAGE)
    return parser


@dataclass
class Ctx:
    """One shell's state. A subshell gets a copy; `sh -c` a fresh one with the exported variables."""

    env: Env
    exported: set[str]
    shell: str = "bash"
    cwd: str | None = None
    host: str | None = None
    conditional: bool = False
    stdin: Content | None = None
    functions: dict[str, tuple] = field(default_factory=dict)
    calls: int = 0

    def copy(self, **changes) -> Ctx:
        new = Ctx(Env(self.env.vars, self.env.positional), set(self.exported), self.shell, self.cwd, self.host,
                   self.conditional, self.stdin, dict(self.functions), self.calls)
        for key, value in changes.items():
            setattr(new, key, value)
        return new


_STATEMENT_LISTS = {"program", "compound_statement", "do_group", "else_clause"}
_SKIP = {"comment", "test_command", ";", "&", "\n", "(", ")", "{", "}", "do", "done", "then", "fi", "else",
         "elif", "if", "while", "until", "for", "in", "case", "esac", "heredoc_body", "heredoc_end"}


class Reader:
    """Walks one parsed text (the script, or a string given to `sh -c`) into `out`."""

    def __init__(self, out, src: bytes, line_offset: int, nest: int) -> None:  # out: shellscript._Out
        self.out, self.src, self.line_offset, self.nest = out, src, line_offset, nest
        self.heredocs: dict[int, tuple[int, int, bool, bool]] = {}
        self.limit = len(src) + 1  # statements ending past this byte are not read (parse error)
        self.cut: tuple[int, str] | None = None
        self.extra: dict[int, tuple[list, list]] = {}  # redirections the grammar hung on a whole list

    def line(self, node) -> int:
        return node.start_point[0] + 1 + self.line_offset

    def run(self, ctx: Ctx) -> None:
        """Parse, and walk what can be trusted. Where the grammar ends a here-document early (it accepts an
        indented delimiter), the body is blanked out and the text parsed again, so the lines after it are
        read as bash reads them; the body's text is taken from the original."""
        masked = bytearray(self.src)
        for _ in range(MAX_REPARSE):
            tree = _parser().parse(bytes(masked))
            self.limit, self.heredocs, self.cut = len(self.src) + 1, {}, None
            blank = self._check(tree.root_node)
            if blank is None:
                break
            for i in range(blank[1], blank[2]):
                if masked[i] != 0x0A:
                    masked[i] = 0x20
        else:
            self._cut(blank[0], f"more than {MAX_REPARSE} here-documents the parser misreads")
        if self.cut is not None:
            line, why = self.cut
            self.out.note(line, f"{why}; nothing from line {line} on is judged")
        with contextlib.suppress(Stop):  # `exit`: the rest of this shell does not run
            self.walk(tree.root_node, ctx, 0)

    # -- what the parser could not read ---------------------------------------------

    def _check(self, root) -> tuple[object, int, int] | None:
        """Find the first place the tree cannot be trusted (read nothing from there on), and the body of a
        here-document the grammar cut short (to blank out and parse again)."""
        stack = [root]
        while stack:
            node = stack.pop()
            if node.start_byte >= self.limit:
                continue
            if node.is_error or node.is_missing:
                # A missing `fi`/`done`/quote: the construct it would close is not read.
                self._cut(node.parent if node.is_missing and node.parent is not None else node,
                          _why_error(node, self.src))
                continue
            if node.type == "heredoc_redirect":
                blank = self._heredoc_bounds(node)
                if blank is not None:
                    return blank
            stack.extend(reversed(node.children))
        return None

    def _cut(self, node, why: str) -> None:
        if node.start_byte < self.limit:
            self.limit = node.start_byte
            self.cut = (self.line(node), why)

    def _heredoc_bounds(self, node) -> tuple[object, int, int] | None:
        """Where the here-document's text is, found as bash finds it (the grammar skips the first line's
        leading blanks and accepts an indented delimiter); a disagreement stops the reading there."""
        start = next((c for c in node.children if c.type == "heredoc_start"), None)
        body = next((c for c in node.children if c.type == "heredoc_body"), None)
        end = next((c for c in node.children if c.type == "heredoc_end"), None)
        if start is None:
            return
        word = text_of(start, self.src)
        if any(ch in word for ch in ";&|<>()"):
            self._cut(node, f"the shell parser cannot split the line of the here-document <<{word}")
            return None
        quoted = any(ch in word for ch in "'\"\\")
        delimiter = word.replace("'", "").replace('"', "").replace("\\", "").encode()
        strip = any(c.type == "<<-" for c in node.children)
        before = node.children[:[c.id for c in node.children].index(body.id)] if body is not None else node.children
        header_end = max([start.end_byte] + [c.end_byte for c in before if c.type != "heredoc_end"])
        newline = self.src.find(b"\n", header_end)
        position = len(self.src) if newline < 0 else newline + 1
        body_start = position
        while position < len(self.src):
            newline = self.src.find(b"\n", position)
            stop = len(self.src) if newline < 0 else newline
            line = self.src[position:stop]
            if (line.lstrip(b"\t") if strip else line) == delimiter:
                break
            position = stop + 1
        else:
            self._cut(node, f"the here-document <<{word} is never closed (no line reading {word!r})")
            return None
        if end is None or self.src.rfind(b"\n", 0, end.start_byte) + 1 != position:
            if end is not None and end.start_byte < position and any(
                    chr(b) not in " \t\n" for b in self.src[body_start:position]):
                return node, body_start, position  # the grammar stopped early: blank the body, parse again
            self._cut(node, f"the here-document <<{word} ends where bash and the parser disagree")
            return None
        self.heredocs[node.id] = (body_start, position, quoted, strip)
        return None

    # -- statements -------------------------------------------------------------------

    def walk(self, node, ctx: Ctx, depth: int, inner: bool = False) -> None:
        if node.end_byte > self.limit and node.type not in _STATEMENT_LISTS | {"ERROR"}:
            return
        if not inner and node.id in self.extra and node.type not in ("command", "redirected_statement",
                                                                       "pipeline"):
            self.stage(node, ctx, None, depth)  # a compound statement that a list's redirection reaches
            return
        self.out.steps += 1
        if self.out.steps > MAX_STEPS:
            self.out.note(self.line(node), f"more than {MAX_STEPS} statements to follow; the rest is not judged")
            raise Stop
        if depth > MAX_DEPTH:
            self.out.note(self.line(node), f"nested deeper than {MAX_DEPTH}; what is inside is not judged")
            return
        kind = node.type
        if kind in _STATEMENT_LISTS or kind == "ERROR":
            for child in node.children:
                if child.type not in _SKIP and child.start_byte < self.limit:
                    self.walk(child, ctx, depth + 1)
        elif kind == "subshell":
            inner = ctx.copy()
            for child in node.named_children:
                self.walk(child, inner, depth + 1)
        elif kind in ("command", "redirected_statement", "pipeline"):
            self.pipeline(node, ctx, depth)
        elif kind == "list":
            self.list(node, ctx, depth)
        elif kind in ("variable_assignment", "variable_assignments", "declaration_command", "unset_command"):
            self.assign(node, ctx)
        elif kind == "negated_command":
            for child in node.named_children:
                self.walk(child, ctx, depth + 1)
        elif kind in ("if_statement", "elif_clause", "while_statement", "c_style_for_statement", "case_statement",
                      "case_item"):
            self.branches(node, ctx, depth)
        elif kind == "for_statement":
            self.for_loop(node, ctx, depth)
        elif kind == "function_definition":
            name, body = node.child_by_field_name("name"), node.child_by_field_name("body")
            if name is not None and body is not None:
                ctx.functions[text_of(name, self.src)] = (self, body)

    def list(self, node, ctx: Ctx, depth: int) -> None:
        children = [c for c in node.children if c.type not in ("comment",)]
        left, operator = children[0], children[1].type if len(children) > 2 else "&&"
        self.walk(left, ctx, depth + 1)
        # After `||` runs only on failure; after `&&` a test makes it conditional, a command does not.
        tested = left.type == "test_command" or (left.type == "command" and text_of(left, self.src).split()[:1]
                                                 in (["test"], ["["]))
        inner = ctx.copy(conditional=True) if operator == "||" or tested else ctx
        for child in children[2:]:
            self.walk(child, inner, depth + 1)
        if inner is not ctx:
            _merge_unknowns(ctx, inner)

    def branches(self, node, ctx: Ctx, depth: int) -> None:
        """if/elif/else, while, case: the condition always runs; the bodies only on some runs."""
        conditions = {c.id for c in node.children_by_field_name("condition")}
        inner = ctx.copy(conditional=True)
        for child in node.children:
            if child.type in _SKIP or child.type in ("extglob_pattern", "word", "string") and node.type in (
                    "case_item", "case_statement"):
                continue
            self.walk(child, ctx if child.id in conditions else inner, depth + 1)
        _merge_unknowns(ctx, inner)

    def for_loop(self, node, ctx: Ctx, depth: int) -> None:
        variable, body = node.child_by_field_name("variable"), node.child_by_field_name("body")
        if variable is None or body is None:
            return
        name = text_of(variable, self.src)
        values = [v for n in node.children_by_field_name("value") for v in fields(n, self.src, ctx.env)]
        if values and len(values) <= MAX_LOOP and all(v.text is not None for v in values):
            for value in values:
                ctx.env.vars[name] = value.text
                self.walk(body, ctx, depth + 1)
            return
        inner = ctx.copy(conditional=True)
        inner.env.vars[name] = None
        self.walk(body, inner, depth + 1)
        _merge_unknowns(ctx, inner)
        ctx.env.vars[name] = None

    def assign(self, node, ctx: Ctx) -> None:
        export = node.type == "declaration_command" and text_of(node, self.src).split()[:1] in (["export"],)
        if node.type == "unset_command":
            for child in node.named_children:
                ctx.env.vars.pop(text_of(child, self.src), None)
            return
        targets = [node] if node.type == "variable_assignment" else node.named_children
        for child in targets:
            if child.type == "variable_name" and export:
                ctx.exported.add(text_of(child, self.src))
            if child.type != "variable_assignment":
                continue
            name_node, value_node = child.child_by_field_name("name"), child.child_by_field_name("value")
            if name_node is None or name_node.type != "variable_name":
                continue  # a[1]=x: arrays are not followed
            name = text_of(name_node, self.src)
            appending = text_of(child, self.src)[len(name):].startswith("+=")
            value = Value("", "") if value_node is None else _word(value_node, self.src, ctx.env)
            text = value.text
            if appending:
                before = ctx.env.vars.get(name)
                text = None if before is None or text is None else before + text
            ctx.env.vars[name] = text
            if export:
                ctx.exported.add(name)

    # -- commands and their plumbing --------------------------------------------------

    def pipeline(self, node, ctx: Ctx, depth: int) -> None:
        stages = [c for c in node.named_children if c.type != "comment"] if node.type == "pipeline" else [node]
        content: Content | None = None
        for stage in stages:
            content = self.stage(stage, ctx, content, depth)

    def stage(self, node, ctx: Ctx, stdin: Content | None, depth: int) -> Content:
        """Run one stage with `stdin` (from the stage before); returns what it prints."""
        redirects, follow = (list(items) for items in self.extra.get(node.id, ((), ())))
        body = node
        if node.type == "redirected_statement":
            body = node.child_by_field_name("body")
            own, own_follow = _redirects_of(node)
            redirects, follow = own + redirects, own_follow + follow
            if body is not None and body.type in ("list", "pipeline", "negated_command"):
                # bash binds trailing redirections to the last simple command (`a && cat > F <<EOF`); the
                # grammar hangs them on the whole list.
                self.extra[_last(body).id] = (redirects, follow)
                redirects, follow = [], []
        if body is None:
            out = Content("", "nothing")
        elif body.type == "command":
            out = shellcommands.run(self, body, redirects, ctx, stdin, depth)
        elif body.type == "pipeline":
            out = stdin
            for item in (c for c in body.named_children if c.type != "comment"):
                out = self.stage(item, ctx, out, depth + 1)
        else:
            self.walk(body, ctx, depth + 1, inner=True)
            out = Content(None, "output", f"the output of a {body.type.replace('_', ' ')}")
        if redirects and body is not None and body.type != "command":
            out = shellcommands.redirect_output(self, redirects, ctx, out, self.line(node))
        return self.follow(follow, ctx, out, depth)

    def follow(self, follow: list, ctx: Ctx, out: Content, depth: int) -> Content:
        """What the grammar nests inside a here-document's line: `<<EOF | tee F`, `<<EOF && systemctl ...`."""
        operator = "&&"
        for item in follow:
            if item.type in ("&&", "||"):
                operator = item.type
            elif item.type == "pipeline" and item.children and item.children[0].type == "|":
                for stage in item.named_children:
                    out = self.stage(stage, ctx, out, depth)
            else:
                self.walk(item, ctx.copy(conditional=True) if operator == "||" else ctx, depth + 1)
        return out

    def nested(self, text: str, ctx: Ctx, node, depth: int) -> None:
        """A string the command hands to another shell (sh -c, eval, ssh HOST 'cmd')."""
        if self.nest >= MAX_NESTED:
            self.out.note(self.line(node), f"shell strings nested deeper than {MAX_NESTED}; not judged")
            return
        Reader(self.out, text.encode("utf-8", "replace")[:MAX_TEXT], self.line(node) - 1, self.nest + 1).run(ctx)

    def write(self, target: Value, content: Content, ctx: Ctx, line: int, append: bool = False,
              how: str | None = None) -> None:
        """Record a file written with `content`; a path known only at run time is a note."""
        if target.text is None:
            if not _is_backup(target.shown):
                self.out.note(line, f"writes to {target.shown}, a path known only when the command runs "
                                    f"({target.why}); that file is not judged")
            return
        path = self.absolute(target.text, ctx)
        if path is None:
            self.out.note(line, f"writes to the relative path {target.text} from a directory not known before the "
                                "run; not judged")
            return
        if path.startswith(("/dev/", "/proc/", "/sys/")) or path == "/dev":
            return
        key = (ctx.host, path)
        copied, text, problem = content.copied_from, content.text, None
        # A copy's bytes are its source's bytes; a symlink keeps reading whatever its target path holds.
        copies_bytes = (how or content.how) in ("cp", "mv", "install")
        if copied is not None:
            text = self.out.written.get((ctx.host, copied))
            if copies_bytes:
                copied = self.out.origins.get((ctx.host, copied), copied)
        elif text is None:
            problem = content.why or "its text is known only when the command runs"
        if copied is not None and copies_bytes and not append:
            self.out.origins[key] = copied
        else:
            self.out.origins.pop(key, None)
        if append:
            before = self.out.written.get(key, "" if key not in self.out.written else None)
            self.out.written[key] = None if before is None or text is None else before + text
        else:
            self.out.written[key] = text
        self.out.writes.append({"path": path, "text": text, "line": line, "how": how or content.how, "append": append,
                                "copied_from": copied, "conditional": ctx.conditional, "problem": problem,
                                "host": ctx.host})

    def absolute(self, path: str, ctx: Ctx) -> str | None:
        if path.startswith("/"):
            return posixpath.normpath(path) if not path.startswith("//") else posixpath.normpath(path[1:])
        return posixpath.normpath(posixpath.join(ctx.cwd, path)) if ctx.cwd else None

    def heredoc(self, node, ctx: Ctx) -> Content:
        bounds = self.heredocs.get(node.id)
        if bounds is None:
            return Content(None, "heredoc", "a here-document the parser could not read")
        body_start, body_end, quoted, strip = bounds
        body = self.src[body_start:body_end].decode("utf-8", "replace")
        text, why = heredoc_text(body, ctx.env, quoted, strip)
        return Content(text, "heredoc", None if text is not None else f"the here-document expands {why}")


def _redirects_of(node) -> tuple[list, list]:
    """A statement's redirections, and what the grammar nests in a here-document's line after it."""
    redirects, follow = [], []
    for child in node.children:
        if child.type in ("file_redirect", "herestring_redirect"):
            redirects.append(child)
        elif child.type == "heredoc_redirect":
            redirects.append(child)
            redirects += [c for c in child.children if c.type == "file_redirect"]
            follow += [c for c in child.children if c.type in ("pipeline", "&&", "||", "command", "list",
                                                              "redirected_statement", "subshell")]
    return redirects, follow


def _last(node):
    """The last simple command of a list or pipeline."""
    for _ in range(MAX_DEPTH):
        if node.type not in ("list", "pipeline", "negated_command"):
            break
        children = [c for c in node.named_children if c.type != "comment"]
        if not children:
            break
        node = children[-1]
    return node


def _word(node, src: bytes, env: Env) -> Value:
    values = fields(node, src, env)
    if len(values) == 1:
        return values[0]
    return Value(" ".join(v.text or "" for v in values), text_of(node, src))


def _merge_unknowns(ctx: Ctx, inner: Ctx) -> None:
    """A variable or directory a conditional branch changed is unknown afterwards."""
    for name, value in inner.env.vars.items():
        if ctx.env.vars.get(name) != value:
            ctx.env.vars[name] = None
    if inner.cwd != ctx.cwd:
        ctx.cwd = None
    ctx.functions.update(inner.functions)


def _is_backup(shown: str) -> bool:
    """`cp -p X X."$stamp".bak`: a dated backup copy; no daemon reads it."""
    tail = shown.strip("'\"").lower()
    return tail.endswith((".bak", ".orig", ".old", "~", ".bak'", '.bak"')) or ".bak." in tail


def _why_error(node, src: bytes) -> str:
    snippet = text_of(node, src).strip().splitlines()[0][:60] if text_of(node, src).strip() else ""
    if node.is_missing:
        return f"the shell parser expected `{node.type}` here (unclosed construct)"
    hint = ""
    if snippet.count("'") % 2 or snippet.count('"') % 2:
        hint = " (an unbalanced quote)"
    elif "<<" in snippet:
        hint = " (a here-document on a line the parser cannot split)"
    return f"the shell parser could not read `{snippet}`{hint}"
