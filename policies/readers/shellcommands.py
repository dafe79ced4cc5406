"""What each command of a shell script does to the host, for `readers.shellscript`.

One function per tool an operator uses to put a file in place (cat, tee, echo, printf,
install, cp, mv, ln, sed -i, curl/wget), to install or start a daemon (apt-get, systemctl,
service, update-rc.d) or to run more shell (sh -c, su -c, eval, ssh HOST, function calls),
reading options the way the tool's own manual gives them.
"""

from __future__ import annotations

import posixpath

from readers import shellsystem
from readers.shellexpand import Content, Env, Value, echo_text, fields, getopt, known_texts, printf_text, text_of, word


class Stop(Exception):
    """`exit` (or the step budget): the rest of this shell does not run."""


class Return(Exception):
    """`return` inside a function."""


_WRAPPERS = {"sudo", "doas", "env", "nice", "nohup", "timeout", "stdbuf", "ionice", "command", "exec", "builtin",
             "time", "chronic", "setsid", "unbuffer", "eatmydata"}
# Short options that take a value, per wrapper (sudo -u USER, timeout -s SIG, ...).
_WRAPPER_ARGS = {"sudo": set("ugpChDrtUT"), "doas": set("uC"), "env": set("uCS"), "nice": set("n"),
                 "timeout": set("sk"), "stdbuf": set("ioe"), "ionice": set("cnp"), "exec": set("a")}
_SHELLS = {"sh": "sh", "dash": "sh", "ash": "sh", "bash": "bash", "ksh": "sh", "zsh": "sh"}


def run(reader, node, redirects: list, ctx, stdin: Content | None, depth: int) -> Content:
    """Run one simple command: evaluate its words, feed it its stdin, record what it does; returns what
    it prints into a pipe (after its own redirections)."""
    line, src = reader.line(node), reader.src
    redirects = [c for c in node.children if c.type in ("file_redirect", "herestring_redirect")] + redirects
    argv: list[Value] = []
    name = node.child_by_field_name("name")
    for child in ([name.named_children[0]] if name is not None and name.named_children else []) + [
            c for c in node.children_by_field_name("argument") if c.type != "herestring_redirect"]:
        argv += fields(child, src, ctx.env)
    for r in redirects:
        if r.type == "heredoc_redirect":
            stdin = reader.heredoc(r, ctx)
        elif r.type == "herestring_redirect":
            value = word(r.named_children[-1], src, ctx.env) if r.named_children else Value("", "")
            stdin = Content(None if value.text is None else value.text + "\n", "here-string", value.why)
        elif _operator(r) == "<":
            target = _destination(r, src, ctx)
            path = reader.absolute(target.text, ctx) if target.text else None
            stdin = Content(None, "copy", target.why, path) if path else Content(None, "copy", target.why)
    if stdin is None:
        stdin = ctx.stdin or Content(None, "stdin", "the command's standard input")
    out = _dispatch(reader, argv, ctx, stdin, line, node, depth)
    return redirect_output(reader, redirects, ctx, out, line)


def _operator(redirect) -> str:
    return next((c.type for c in redirect.children if not c.is_named), "")


def _destination(redirect, src: bytes, ctx) -> Value:
    target = redirect.child_by_field_name("destination")
    return word(target, src, ctx.env) if target is not None else Value(None, "", "no destination")


def redirect_output(reader, redirects: list, ctx, out: Content, line: int) -> Content:
    """`> F`, `>> F`, `&> F`: the file receives what the command prints; nothing then reaches the pipe."""
    redirected = False
    for r in redirects:
        if r.type != "file_redirect":
            continue
        operator = _operator(r)
        descriptor = next((text_of(c, reader.src) for c in r.children if c.type == "file_descriptor"), None)
        target = r.child_by_field_name("destination")
        if operator in (">", ">|", ">>", "&>", "&>>") and (descriptor in (None, "1") or operator.startswith("&")):
            reader.write(_destination(r, reader.src, ctx), out, ctx, line, append=operator.endswith(">>"))
            redirected = True
        elif operator == ">&" and descriptor in (None, "1"):
            if target is not None and target.type == "number" or text_of(target, reader.src) == "-":
                redirected = True
            else:
                reader.write(_destination(r, reader.src, ctx), out, ctx, line)
                redirected = True
    return Content("", "nothing") if redirected else out


def _unwrap(argv: list[Value]) -> list[Value]:
    """`sudo -u root tee F`, `env A=1 cmd`, `timeout 30 cmd`: the command they run."""
    for _ in range(8):
        if not argv or argv[0].text is None:
            return argv
        name = posixpath.basename(argv[0].text)
        if name not in _WRAPPERS:
            return argv
        if name == "command" and len(argv) > 1 and argv[1].text in ("-v", "-V"):
            return []
        takes = _WRAPPER_ARGS.get(name, set())
        i = 1
        while i < len(argv) and argv[i].text is not None and argv[i].text.startswith("-") and argv[i].text != "-":
            text = argv[i].text
            i += 1
            if text == "--":
                break
            if not text.startswith("--") and text[-1] in takes and len(text) == 2:
                i += 1
        if name in ("env", "sudo", "doas"):
            while i < len(argv) and argv[i].text is not None and "=" in argv[i].text:
                i += 1
        if name == "timeout" and i < len(argv):
            i += 1  # the duration
        argv = argv[i:]
    return argv


def _dispatch(reader, argv: list[Value], ctx, stdin: Content, line: int, node, depth: int) -> Content:
    if len(argv) == 1 and argv[0].text == "exec":
        return Content(None, "output", "what the rest of the script prints (`exec` redirection)")
    argv = _unwrap(argv)
    if not argv:
        return Content("", "nothing")
    if argv[0].text is None:
        return Content(None, "output", f"the output of {argv[0].shown}")
    path, args = argv[0].text, argv[1:]
    name = posixpath.basename(path)
    if name in ctx.functions and "/" not in path:
        return _call(reader, name, args, ctx, line, depth)
    if path.startswith("/etc/init.d/") and args:
        shellsystem.service(reader, name, args[0].text, line)
        return Content(None, "output", f"the output of {path}")
    handler = _HANDLERS.get(name)
    if handler is None:
        return Content(None, "output", f"the output of `{name}`")
    return handler(reader, name, args, ctx, stdin, line, node, depth) or Content(None, "output",
                                                                                f"the output of `{name}`")


def _call(reader, name: str, args: list[Value], ctx, line: int, depth: int) -> Content:
    if ctx.calls >= MAX_CALLS:
        reader.out.note(line, f"function {name} called deeper than {MAX_CALLS}; not followed")
        return Content(None, "output", f"the output of {name}")
    owner, body = ctx.functions[name]
    saved = ctx.env.positional
    ctx.env.positional = [a.text for a in args]
    ctx.calls += 1
    try:
        owner.walk(body, ctx, depth + 1)
    except Return:
        pass
    finally:
        ctx.calls -= 1
        ctx.env.positional = saved
    return Content(None, "output", f"the output of function {name}")


MAX_CALLS = 8  # depth of function calls followed

# ---------------------------------------------------------------------------------------
# Text producers


def _cat(reader, name, args, ctx, stdin, line, node, depth):
    _, operands = getopt(args, set())
    if not operands or all(o.text == "-" for o in operands):
        return stdin
    if len(operands) == 1:
        source = operands[0]
        path = reader.absolute(source.text, ctx) if source.text else None
        return Content(None, "cat", source.why or "a relative path", path) if path else Content(
            None, "cat", source.why or f"{source.text} from a directory not known before the run")
    texts = [reader.out.written.get((ctx.host, reader.absolute(o.text, ctx) or "")) if o.text else None
             for o in operands]
    if all(t is not None for t in texts):
        return Content("".join(texts), "cat")
    return Content(None, "cat", "the text of several files joined")


def _echo(reader, name, args, ctx, stdin, line, node, depth):
    texts, why = known_texts(args)
    if texts is None:
        return Content(None, name, f"echo of {why}")
    text, why = echo_text(texts, ctx.shell)
    return Content(text, "echo", why)


def _printf(reader, name, args, ctx, stdin, line, node, depth):
    if args and args[0].text == "-v":
        if len(args) > 1 and args[1].text:
            ctx.env.vars[args[1].text] = None
        return Content("", "nothing")
    if args and args[0].text == "--":
        args = args[1:]
    texts, why = known_texts(args)
    if not texts:
        return Content(None, "printf", f"printf of {why}" if why else "printf without a format")
    text, why = printf_text(texts[0], texts[1:])
    return Content(text, "printf", why)


def _tee(reader, name, args, ctx, stdin, line, node, depth):
    options, operands = getopt(args, set(), {"--output-error"})
    append = "-a" in options or "--append" in options
    for target in operands:
        reader.write(target, stdin, ctx, line, append=append, how="tee")
    return stdin


# ---------------------------------------------------------------------------------------
# Copies


def _targets(reader, ctx, line: int, sources: list[Value], dest: Value, options: dict[str, str],
             directory: str | None) -> list[tuple[Value, Value]]:
    """(source, destination file) pairs of cp/mv/install/ln: into a directory when -t names one, when
    several sources are given, when DEST ends with / or was made by mkdir; else DEST is the file."""
    if directory is not None:
        return [(s, _join(directory, s)) for s in sources]
    if dest.text is None or "-T" in options or "--no-target-directory" in options:
        return [(s, dest) for s in sources[:1]]
    absolute = reader.absolute(dest.text, ctx)
    into = len(sources) > 1 or dest.text.endswith("/") or absolute in reader.out.dirs or absolute in _PACKAGE_DIRS
    return [(s, _join(dest.text, s)) for s in sources] if into else [(sources[0], dest)]


# Directories the Debian packages of the daemons the pack reads create: `cp named.conf.options /etc/bind`
# copies into them. Any other DEST without a trailing slash is taken as the file (as cp does when DEST is not
# an existing directory).
_PACKAGE_DIRS = {
    "/etc/bind", "/etc/nginx", "/etc/nginx/sites-available", "/etc/nginx/sites-enabled", "/etc/nginx/conf.d",
    "/etc/nginx/snippets", "/etc/apache2", "/etc/apache2/sites-available", "/etc/apache2/sites-enabled",
    "/etc/apache2/conf-available", "/etc/apache2/conf-enabled", "/etc/apache2/mods-available",
    "/etc/apache2/mods-enabled", "/etc/caddy", "/etc/lighttpd", "/etc/lighttpd/conf-available",
    "/etc/lighttpd/conf-enabled", "/etc/postfix", "/etc/dovecot", "/etc/dovecot/conf.d", "/etc/iptables",
    "/etc/nftables.d", "/etc/cron.d", "/etc/cron.daily", "/etc/cron.hourly", "/etc/cron.weekly", "/etc/systemd/system",
    "/etc/default", "/etc/sysctl.d", "/etc/ssl/certs", "/etc/ssl/private", "/etc/postgresql", "/etc/mysql/conf.d",
    "/etc/mysql/mariadb.conf.d", "/etc/network/if-up.d", "/etc/network/if-pre-up.d", "/usr/local/bin",
    "/usr/local/sbin", "/var/www", "/var/www/html", "/etc/letsencrypt/renewal-hooks/deploy",
}


def _join(directory: str, source: Value) -> Value:
    if source.text is None:
        return Value(None, f"{directory}/{source.shown}", source.why)
    return Value(posixpath.join(directory, posixpath.basename(source.text.rstrip("/"))), source.shown)


def _copy_into(reader, ctx, line, pairs, how: str, stdin: Content | None = None, symlink: bool = False):
    for source, target in pairs:
        if source.text in ("/dev/stdin", "-") and stdin is not None:
            reader.write(target, Content(stdin.text, how, stdin.why, stdin.copied_from), ctx, line, how=how)
            continue
        origin = source.text
        if origin is not None and symlink and not origin.startswith("/") and target.text is not None:
            origin = posixpath.join(posixpath.dirname(reader.absolute(target.text, ctx) or "/"), origin)
        path = reader.absolute(origin, ctx) if origin is not None else None
        if path is None:
            if target.text is not None and not (_self_restore(source.shown, target.text)):
                why = f"copied from {source.shown}, " + ("a path known only when the command runs" if origin is None
                                                         else "relative to a directory not known before the run")
                reader.write(target, Content(None, how, why), ctx, line, how=how)
            continue
        reader.write(target, Content(None, how, None, path), ctx, line, how=how)


def _self_restore(shown: str, target: str) -> bool:
    """`cp -p X."$stamp".bak X`: putting a file's own backup back delivers nothing new."""
    return shown.strip("'\"").startswith(target) and shown != target


def _cp(reader, name, args, ctx, stdin, line, node, depth):
    options, operands = getopt(args, set("tS"), {"--target-directory", "--suffix"})
    directory = options.get("-t") or options.get("--target-directory")
    if directory is None and len(operands) < 2 or directory is not None and not operands:
        return Content("", "nothing")
    sources, dest = (operands, Value(None, "")) if directory is not None else (operands[:-1], operands[-1])
    pairs = _targets(reader, ctx, line, sources, dest, options, directory)
    _copy_into(reader, ctx, line, pairs, name)
    if name == "mv" and not ctx.conditional:
        reader.out.removed += [p for p in (reader.absolute(s.text, ctx) for s, _ in pairs if s.text) if p]
    return Content("", "nothing")


def _install(reader, name, args, ctx, stdin, line, node, depth):
    options, operands = getopt(args, set("mogStZ"), {"--mode", "--owner", "--group", "--suffix",
                                                       "--target-directory", "--strip-program"})
    if "-d" in options or "--directory" in options:
        _mkdir(reader, name, operands, ctx, stdin, line, node, depth)
        return Content("", "nothing")
    directory = options.get("-t") or options.get("--target-directory")
    if directory is None and len(operands) < 2 or directory is not None and not operands:
        return Content("", "nothing")
    sources, dest = (operands, Value(None, "")) if directory is not None else (operands[:-1], operands[-1])
    _copy_into(reader, ctx, line, _targets(reader, ctx, line, sources, dest, options, directory), "install", stdin)
    return Content("", "nothing")


def _ln(reader, name, args, ctx, stdin, line, node, depth):
    options, operands = getopt(args, set("tS"), {"--target-directory", "--suffix"})
    symbolic = "-s" in options or "--symbolic" in options
    directory = options.get("-t") or options.get("--target-directory")
    if not operands:
        return Content("", "nothing")
    if directory is None and len(operands) == 1:
        directory = ctx.cwd
        if directory is None:
            return Content("", "nothing")
    sources, dest = (operands, Value(None, "")) if directory is not None else (operands[:-1], operands[-1])
    _copy_into(reader, ctx, line, _targets(reader, ctx, line, sources, dest, options, directory),
               "ln -s" if symbolic else "ln", symlink=symbolic)
    return Content("", "nothing")


def _mkdir(reader, name, args, ctx, stdin, line, node, depth):
    _, operands = getopt(args, set("m"), {"--mode"})
    for operand in operands:
        path = reader.absolute(operand.text, ctx) if operand.text else None
        if path:
            reader.out.dirs.add(path)
    return Content("", "nothing")


def _cd(reader, name, args, ctx, stdin, line, node, depth):
    operands = [a for a in args if a.text is None or not a.text.startswith("-")]
    target = operands[0].text if operands else None
    ctx.cwd = reader.absolute(target, ctx) if target and target != "-" else None
    if ctx.cwd:
        reader.out.dirs.add(ctx.cwd)
    return Content("", "nothing")


def _rm(reader, name, args, ctx, stdin, line, node, depth):
    _, operands = getopt(args, set())
    for operand in operands:
        path = reader.absolute(operand.text, ctx) if operand.text else None
        if path and not ctx.conditional:
            reader.out.removed.append(path)
    return Content("", "nothing")


def _edit(reader, name, args, ctx, stdin, line, node, depth):
    """sed -i / perl -i: the file's text afterwards is not known."""
    if name == "sed":
        options, operands = getopt(args, set("ef"), {"--expression", "--file"})
        in_place = any(o == "-i" or o.startswith("--in-place") for o in options) or any(
            a.text and a.text.startswith("-i") for a in args)
        script_given = any(k in options for k in ("-e", "-f", "--expression", "--file"))
        files = operands if script_given else operands[1:]
    else:
        options, operands = getopt(args, set("eEIMmx"))
        in_place = "-i" in options
        files = operands if ("-e" in options or "-E" in options) else operands[1:]
    if not in_place:
        return None
    for target in files:
        reader.write(target, Content(None, f"{name} -i", f"edited in place by `{name} -i`"), ctx, line)
    return Content("", "nothing")


def _download(reader, name, args, ctx, stdin, line, node, depth):
    options, operands = getopt(args, set("oOdHXuAeTwrmy" if name == "curl" else "OoPaeTtUd"),
                                 {"--output", "--output-document", "--data", "--header", "--user"})
    target = options.get("-o") if name == "curl" else options.get("-O")
    target = target or options.get("--output") or options.get("--output-document")
    url = next((o.text for o in operands if o.text), "a URL")
    if target and target != "-":
        reader.write(Value(target, target), Content(None, name, f"downloaded from {url}"), ctx, line)
        return Content("", "nothing")
    return Content(None, name, f"downloaded from {url}")


# ---------------------------------------------------------------------------------------
# More shell


def _shell(reader, name, args, ctx, stdin, line, node, depth):
    shell = _SHELLS.get(name, "sh")
    command, positional, i = None, [], 0
    while i < len(args):
        text = args[i].text
        if name in ("su", "runuser") and text in ("-c", "--command"):
            command, i = (args[i + 1] if i + 1 < len(args) else None), i + 2
            continue
        if name in ("su", "runuser") and text and text.startswith("--command="):
            command = Value(text.split("=", 1)[1], text)
        elif name not in ("su", "runuser") and text is not None and text.startswith("-") and "c" in text[1:] \
                and not text.startswith("--"):
            command = args[i + 1] if i + 1 < len(args) else None
            positional = args[i + 3:] if i + 2 < len(args) else []
            break
        elif name not in ("su", "runuser") and text is not None and text.startswith(("-", "+")) \
                and text.endswith("o") and not text.startswith("--"):
            i += 1  # -o pipefail
        elif name not in ("su", "runuser") and text is not None and not text.startswith(("-", "+")):
            if any(a.text and a.text.startswith("-") and not a.text.startswith("--") and "n" in a.text
                   for a in args[:i]):
                return None  # `bash -n FILE`: a syntax check, nothing runs
            reader.out.note(line, f"runs the script {text}; what it does is not read")
            return None
        i += 1
    if command is None:
        if stdin.text is not None and name not in ("su", "runuser"):
            reader.nested(stdin.text, ctx.copy(env=_exported(ctx), shell=shell, stdin=None), node, depth)
        return None
    if command.text is None:
        reader.out.note(line, f"{name} runs {command.shown}, known only when the command runs; not judged")
        return None
    inner = ctx.copy(env=_exported(ctx, [p.text for p in positional]), shell="sh" if name in ("su", "runuser")
                     else shell, stdin=stdin)
    reader.nested(command.text, inner, node, depth)
    return None


def _exported(ctx, positional=None):
    return Env({k: v for k, v in ctx.env.vars.items() if k in ctx.exported}, positional)


def _eval(reader, name, args, ctx, stdin, line, node, depth):
    texts, why = known_texts(args)
    if texts is None:
        reader.out.note(line, f"eval of {why}; not judged")
        return None
    reader.nested(" ".join(texts), ctx, node, depth)
    return None


def _ssh(reader, name, args, ctx, stdin, line, node, depth):
    options, operands = getopt(args, set("bcDEeFIiJLlmOopQRSWw"))
    if not operands or operands[0].text is None:
        return None
    host = operands[0].text.rsplit("@", 1)[-1]
    remote = ctx.copy(env=_envless(), shell="bash", host=host, cwd=None, stdin=stdin, functions={})
    if len(operands) > 1:
        texts, why = known_texts(operands[1:])
        if texts is None:
            reader.out.note(line, f"ssh {host} runs {why}; not judged")
            return None
        reader.nested(" ".join(texts), remote, node, depth)
    elif stdin.text is not None:
        reader.nested(stdin.text, remote.copy(stdin=None), node, depth)
    return None


def _envless():
    return Env({})


def _scp(reader, name, args, ctx, stdin, line, node, depth):
    _, operands = getopt(args, set("cFiJloPS"))
    if len(operands) < 2 or operands[-1].text is None or ":" not in operands[-1].text:
        return None
    host, _, path = operands[-1].text.partition(":")
    host = host.rsplit("@", 1)[-1]
    remote = ctx.copy(host=host, cwd=None)
    for source in operands[:-1]:
        base = posixpath.basename((source.text or source.shown).rstrip("/"))
        target = path if path and not path.endswith("/") and len(operands) == 2 else posixpath.join(path or ".", base)
        if not target.startswith("/"):
            reader.out.note(line, f"{name} to {host}:{target}, relative to the remote home; not judged")
            continue
        reader.write(Value(target, target), Content(None, name, f"copied by {name} from {source.shown} on the "
                                                               "deploying machine"), remote, line)
    return None


def _exit(reader, name, args, ctx, stdin, line, node, depth):
    if not ctx.conditional:
        raise Return if name == "return" else Stop
    return None


def _read(reader, name, args, ctx, stdin, line, node, depth):
    for a in args:
        if a.text and not a.text.startswith("-"):
            ctx.env.vars[a.text] = None
    return None


def _set(reader, name, args, ctx, stdin, line, node, depth):
    texts = [a.text for a in args]
    if "--" in texts:
        ctx.env.positional = texts[texts.index("--") + 1:]
    return Content("", "nothing")


_HANDLERS = {
    "cat": _cat, "echo": _echo, "printf": _printf, "tee": _tee,
    "popd": lambda reader, name, args, ctx, *rest: setattr(ctx, "cwd", None),
    "cp": _cp, "mv": _cp, "install": _install, "ln": _ln, "mkdir": _mkdir, "cd": _cd, "pushd": _cd, "rm": _rm,
    "sed": _edit, "perl": _edit, "curl": _download, "wget": _download,
    "apt-get": shellsystem.packages, "apt": shellsystem.packages, "aptitude": shellsystem.packages,
    "dnf": shellsystem.packages, "yum": shellsystem.packages, "apk": shellsystem.packages,
    "systemctl": shellsystem.systemctl, "service": shellsystem.service_command,
    "invoke-rc.d": shellsystem.service_command, "update-rc.d": shellsystem.service_command,
    "rc-service": shellsystem.service_command, "rc-update": shellsystem.service_command,
    "chkconfig": shellsystem.service_command,
    "sh": _shell, "bash": _shell, "dash": _shell, "ash": _shell, "ksh": _shell, "zsh": _shell, "su": _shell,
    "runuser": _shell, "eval": _eval, "ssh": _ssh, "scp": _scp, "rsync": _scp,
    "exit": _exit, "return": _exit, "read": _read, "set": _set,
}
