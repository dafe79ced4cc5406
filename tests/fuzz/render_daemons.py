"""Rendered files read back by the daemons' own checkers.

`daemon_view(dialect, text, workdir)` runs the checker: named-checkconf -p, named-checkzone -D,
postconf -n / -M, doveconf -n, nft -c (and the ruleset nft really loads, listed back inside a
throwaway network namespace), nginx -t, php -l with PHP's own tokenizer, bash -n / sh -n,
systemd-analyze verify, opendkim -n (in a throwaway mount namespace holding the tables it
names). It returns the checker's verdict and, where the checker prints what it parsed, that
canonical text, which `canonical_shape` reads like the rendered file
(render_structure), so its structure is compared the same way.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from tests.fuzz.render_structure import READERS, Builder, Shape, opendkimconf, zone_tokens, zonetext


@dataclass(frozen=True)
class DaemonView:
    ok: bool
    message: str
    canonical: str | None = None  # what the checker printed back of what it parsed
    dialect: str | None = None  # the dialect of `canonical`


def _tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def _run(argv: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, errors="replace", **kwargs)


# The tool each dialect's checker needs (the test skips the daemon sample without it).
DAEMON_TOOLS = {
    "bind": "named-checkconf", "zone": "named-checkzone", "postfix": "postconf", "master": "postconf",
    "dovecot": "doveconf", "nft": "nft", "nginx": "nginx", "php": "php", "shell": "bash", "sh": "sh",
    "systemd": "systemd-analyze", "opendkim": "opendkim",
}


def daemon_view(dialect: str, text: str, workdir: Path, *, name: str = "file") -> DaemonView:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / name
    path.write_text(text, errors="surrogatepass")
    if dialect == "bind":
        # named-checkconf changes into `directory`: run it chrooted (-t) in a tree that has it.
        root = workdir / "root"
        for directory in re.findall(r'^\s*directory "([^"\n]*)";', text, re.M):
            inside = (root / directory.lstrip("/")).resolve()
            if inside.is_relative_to(root.resolve()):
                inside.mkdir(parents=True, exist_ok=True)
        root.mkdir(exist_ok=True)
        (root / "named.conf").write_text(text, errors="surrogatepass")
        result = _run([_tool("named-checkconf"), "-t", str(root), "-p", "/named.conf"])
        return DaemonView(result.returncode == 0, result.stdout + result.stderr, result.stdout, "bind")
    if dialect == "zone":
        origin = zonetext.origin_from_text(text) or "example.net"
        result = _run([_tool("named-checkzone"), "-i", "none", "-D", "-o", "-", origin, str(path)])
        ok = result.returncode == 0
        # An in-zone NS without an address is a loading error no option turns off; it says
        # nothing of the file's syntax (which is what the fuzz changes), so it passes unread.
        errors = [line for line in result.stderr.splitlines() if "not loaded due to errors" not in line]
        if not ok and errors and all("has no address records" in line for line in errors):
            return DaemonView(True, result.stderr)
        return DaemonView(ok, result.stdout + result.stderr, result.stdout if ok else None, "zone-dump")
    if dialect in ("postfix", "master"):
        target = workdir / ("main.cf" if dialect == "postfix" else "master.cf")
        path.rename(target)
        other = workdir / ("master.cf" if dialect == "postfix" else "main.cf")
        if dialect == "master":  # a name, so that postconf need not look the machine's own up
            other.write_text("myhostname = mail.example.net\nmydomain = example.net\n")
        else:
            other.touch()
        for written in (target, other):  # Postfix waits while a file is younger than a second
            os.utime(written, (0, 0))
        flag = "-n" if dialect == "postfix" else "-M"
        result = _run([_tool("postconf"), flag, "-c", str(workdir)])
        # postconf warns (and still exits 0) about what it cannot read: that is a refusal too.
        ok = result.returncode == 0 and "warning" not in result.stderr
        # config_directory is where this check ran, not part of the file.
        canonical = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("config_directory"))
        return DaemonView(ok, result.stdout + result.stderr, canonical, dialect)
    if dialect == "dovecot":
        result = _run([_tool("doveconf"), "-n", "-c", str(path)])
        ok = result.returncode == 0 and "Warning" not in result.stderr
        canonical = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("# "))
        return DaemonView(ok, result.stdout + result.stderr, canonical, "dovecot")
    if dialect == "nft":
        check = _run([_tool("nft"), "-c", "-f", str(path)])
        if check.returncode != 0:
            return DaemonView(False, check.stderr)
        # What nft really loads, listed back, in a network namespace made (and dropped) for it.
        unshare = _tool("unshare")
        if unshare is None:
            return DaemonView(True, check.stderr)
        loaded = _run([unshare, "-n", "sh", "-c", 'nft -f "$1" && nft list ruleset', "sh", str(path)])
        return DaemonView(loaded.returncode == 0, loaded.stderr, loaded.stdout, "nft")
    if dialect == "nginx":
        wrapper = workdir / "nginx.conf"
        wrapper.write_text(
            f"pid {workdir}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
            f"http {{\n  access_log off;\n  include {path};\n}}\n"
        )
        result = _run([_tool("nginx"), "-t", "-q", "-c", str(wrapper), "-p", str(workdir)])
        # The site names certificate files the test machine does not have: nginx loads them only
        # after the whole file has been parsed, so that error still means the syntax passed.
        missing_cert = re.search(r"cannot load certificate", result.stderr) is not None
        return DaemonView(result.returncode == 0 or missing_cert, result.stderr)
    if dialect == "php":
        lint = _run([_tool("php"), "-l", str(path)])
        if lint.returncode != 0:
            return DaemonView(False, lint.stdout + lint.stderr)
        # PHP's own lexer: one line per token, as the interpreter will read the file.
        script = ('foreach (token_get_all(file_get_contents($argv[1])) as $t) { if (is_array($t)) {'
                  ' if ($t[0] == T_WHITESPACE || $t[0] == T_COMMENT) continue;'
                  ' echo token_name($t[0]), " ", json_encode($t[1]), "\\n"; } else { echo "CHAR ",'
                  ' json_encode($t), "\\n"; } }')
        tokens = _run([_tool("php"), "-r", script, str(path)])
        return DaemonView(tokens.returncode == 0, tokens.stderr, tokens.stdout, "php-tokens")
    if dialect in ("shell", "sh"):
        result = _run([_tool("bash" if dialect == "shell" else "sh"), "-n", str(path)])
        return DaemonView(result.returncode == 0, result.stderr)
    if dialect == "systemd":  # `name` must be the unit's name: its suffix says what it is
        result = _run([_tool("systemd-analyze"), "verify", "--man=no", str(path)])
        # Offline, the units' programs are not installed here: only that complaint is tolerated.
        # Every other word about our unit (an unknown key, a bad value, a refusal) is a failure.
        lines = [
            line for line in (result.stderr + result.stdout).splitlines()
            if (line.startswith((str(path), name)) or str(path) in line)
            and "is not executable" not in line and "not found" not in line
        ]
        return DaemonView(not lines, "\n".join(lines))
    if dialect == "opendkim":
        return _opendkim_view(text, path, workdir)
    return DaemonView(True, "no checker for this dialect")


# `opendkim -n` opens every dataset the conf names (KeyTable, SigningTable, InternalHosts...) and
# fails on a missing file. The conf names them by absolute path, so they are staged at exactly those
# paths in an overlay of / (a tmpfs upper layer) inside a private mount namespace, and opendkim runs
# chrooted there: the real /etc is never written, and the value is checked as rendered.
_OPENDKIM_CHECK = r"""
set -e
scratch=$1 conf=$2; shift 2
mount -t tmpfs tmpfs "$scratch"
mkdir "$scratch/upper" "$scratch/work" "$scratch/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$scratch/upper,workdir=$scratch/work" "$scratch/root"
for staged in "$@"; do
    (mkdir -p "$scratch/root$(dirname "$staged")" && : > "$scratch/root$staged") 2>/dev/null || exit 97
done
cat > "$scratch/root/.render-fuzz-opendkim.conf" < "$conf"
exec chroot "$scratch/root" opendkim -n -x /.render-fuzz-opendkim.conf
"""
_NOT_STAGED = 97  # a named path cannot be a file here (a directory, or under one), whatever the conf says
_FILE_DATASETS = ("KeyTable", "SigningTable", "InternalHosts", "ExternalIgnoreList", "PeerList", "TrustAnchorFile")


def _opendkim_view(text: str, path: Path, workdir: Path) -> DaemonView:
    unshare = _tool("unshare")
    if unshare is None:
        return DaemonView(True, "no unshare: the datasets the conf names cannot be staged")
    conf = opendkimconf.parse(text)
    staged = sorted({found.path for name in _FILE_DATASETS if (value := conf.get(name)) is not None
                     and (found := opendkimconf.dataset(value)).kind in ("file", "refile")})
    scratch = workdir / "namespace"
    scratch.mkdir()
    result = _run([unshare, "-m", "sh", "-c", _OPENDKIM_CHECK, "sh", str(scratch), str(path), *staged])
    if result.returncode == _NOT_STAGED:
        return DaemonView(True, f"not checked: cannot stage {staged} as files")
    return DaemonView(result.returncode == 0, result.stdout + result.stderr)


def _zone_dump(text: str) -> Shape:
    """named-checkzone -D: one record per line, sorted by owner name, so compared as counts of
    records per type and number of tokens (a TXT datum's strings count as one)."""
    out = Builder()
    counts: Counter = Counter()
    for line in text.splitlines():
        tokens = Builder()
        zone_tokens(line, tokens)
        words = [t for k, t in zip(tokens.keys, tokens.tokens, strict=True) if k[0] == "tok"]
        if len(words) >= 4:
            counts[(words[3], len(words))] += 1
        out.problems += tokens.problems
    for key, count in sorted(counts.items()):
        out.add(("records", *key), count)
    return out.shape()


def _php_daemon_tokens(text: str) -> Shape:
    out = Builder()
    for index, line in enumerate(text.splitlines()):
        kind, _, value = line.partition(" ")
        out.add((kind, index), json.loads(value) if value else "")
    return out.shape()


CANONICAL_READERS = {**READERS, "zone-dump": _zone_dump, "php-tokens": _php_daemon_tokens}


def canonical_shape(view: DaemonView) -> Shape | None:
    if view.canonical is None or view.dialect is None:
        return None
    return CANONICAL_READERS[view.dialect](view.canonical)
