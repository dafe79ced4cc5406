"""Shell text as operators write it in a Command's `create`: files written, packages, services, notes.

The texts the reader says a script writes are checked against the real shell: each oracle case
is run by bash (or dash, for `/bin/sh`) in a temporary directory and every file it leaves must be
what the reader predicted, byte for byte.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest
from readers import shellscript
from readers.shellscript import read_script

# (case, script with {d} for a scratch directory). Each is run by bash, then read by the pack.
ORACLE = [
    ("quoted heredoc", "cat > {d}/named.conf.options <<'EOF'\noptions {{\n  recursion yes;\n"
                       "  allow-recursion {{ any; }};\n}};\nEOF\n"),
    ("double-quoted delimiter", 'cat > {d}/a <<"EOF"\n$HOME `date` \\$x\nEOF\n'),
    ("backslash delimiter", "cat > {d}/a <<\\END\n$x\nEND\n"),
    ("unquoted heredoc, script variables", "NET=10.0.0.0/8\nZONE=example.net\ncat > {d}/named.conf <<EOF\n"
                                           "acl ours {{ $NET; }};\nzone \"${{ZONE}}\" {{ type master; }};\n"
                                           "price \\$5 \\`x\\` a\\\\b \\\n  joined\nEOF\n"),
    ("heredoc keeps leading blanks and indented text", "cat > {d}/a <<EOF\n   first\n\tsecond\n  EOF\nEOF\n"),
    ("<<- strips leading tabs", "if true; then\n\tcat <<-EOF > {d}/x.conf\n\t\tserver {{\n\t\tlisten 80;\n"
                                "\t\t}}\n\tEOF\nfi\n"),
    ("empty heredoc", "cat > {d}/empty <<EOF\nEOF\n"),
    ("heredoc then more commands on the line", "cat > {d}/a <<'EOF' && echo done > {d}/b\nbody\nEOF\n"),
    ("variable path in double quotes", 'F={d}/named.conf\ncat > "$F" <<\'EOF\'\nrecursion no;\nEOF\n'),
    ("tee from a heredoc, stdout to /dev/null", "tee {d}/site >/dev/null <<'EOF'\nserver {{ listen 80; }}\nEOF\n"),
    ("tee -a appends, two files", "echo one > {d}/t1\nprintf 'two\\n' | tee -a {d}/t1 {d}/t2 > /dev/null\n"),
    ("cat heredoc piped into tee", "cat <<EOF | tee {d}/piped\nline\nEOF\n"),
    ("printf escapes and %s reuse", "printf '%s\\n' 'allow-query {{ any; }};' 'recursion yes;' > {d}/p\n"),
    ("printf %% %d %5s %-3s| %b", "printf '100%% %d [%5s] [%-3s] %b\\n' 42 ab c 'x\\ty' > {d}/p\n"),
    ("printf without trailing newline and octal", "printf 'a\\101\\tb' > {d}/p\n"),
    ("echo, echo -n, echo -e, >>", "echo 'first line' > {d}/e\necho -n 'no newline' >> {d}/e\n"
                                   "echo -e '\\tescaped\\nsecond' >> {d}/e\n"),
    ("echo with words", "echo recursion no\\; > {d}/e\n"),
    ("here-string", "tee {d}/h <<< 'smtpd_banner = $myhostname ESMTP'\n"),
    ("install from stdin", "install -m 644 /dev/stdin {d}/main.cf <<'EOF'\nmyhostname = mx.example.net\nEOF\n"),
    ("copy of a file written above", "cat > {d}/staged <<'EOF'\nbody\nEOF\ncp {d}/staged {d}/real\n"),
    ("cp into a directory with a slash", "mkdir -p {d}/conf\necho x > {d}/src.conf\ncp {d}/src.conf {d}/conf/\n"),
    ("mv", "echo moved > {d}/tmpfile\nmv -f {d}/tmpfile {d}/final\n"),
    ("cd and relative paths", "cd {d}\ncat > rel.conf <<'EOF'\nrelative\nEOF\n"),
    ("subshell cd does not leak", "(cd {d} && echo in > sub)\necho out > {d}/out\n"),
    ("function with arguments", "write() {{\n  printf '%s\\n' \"$2\" > \"$1\"\n}}\nwrite {d}/f1 alpha\n"
                                "write {d}/f2 beta\n"),
    ("for over literal words", "for s in a b; do\n  echo \"site $s\" > {d}/site-$s\ndone\n"),
    ("sh -c with single quotes", "sh -c 'echo \"recursion no;\" > {d}/nested'\n"),
    ("bash -c with a heredoc inside", "bash -c 'cat > {d}/inner <<EOF\nhello\nEOF'\n"),
    ("exported variable reaches sh -c", "export D={d}\nsh -c 'echo via-export > \"$D/exp\"'\n"),
    ("eval of literal text", "eval 'echo evaluated > {d}/ev'\n"),
    ("compound in &&, set -e", "set -e\nmkdir -p {d}/x && echo a > {d}/x/a; echo b > {d}/x/b\n"),
    ("append to a heredoc-written file", "cat > {d}/j <<'EOF'\nfirst\nEOF\ncat >> {d}/j <<'EOF'\nsecond\nEOF\n"),
    ("CRLF-free unicode", "printf 'caf\\303\\251 %s\\n' ok > {d}/u\n"),
    ("bash <<EOF runs its stdin", "bash <<'EOF'\necho from-stdin > {d}/s\nEOF\n"),
    ("exit stops the script", "echo before > {d}/before\nexit 0\necho after > {d}/after\n"),
    ("stdin of bash -c from a heredoc", "bash -c \"cat > {d}/conf.d.x.conf\" <<'EOF'\nserver_tokens off;\nEOF\n"),
    ("known variable piped to tee", "LINE='relayhost = [smtp.example.net]:587'\necho \"$LINE\" | tee -a {d}/main.cf\n"),
    ("comment after the heredoc operator", "cat > {d}/c <<EOF # the options\nrecursion no;\nEOF\n"),
    ("tee to two files from a heredoc", "tee {d}/a {d}/b > /dev/null <<'EOF'\nsame\nEOF\n"),
    ("nested double quotes in sh -c", "sh -c \"echo \\\"quoted words\\\" > {d}/q\"\n"),
    ("printf --", "printf -- '-%s-\\n' a b > {d}/p\n"),
    ("redirect before the command name", ">{d}/first echo hello\n"),
    ("heredoc with the redirect after it, in a function", "conf() {{\n  cat <<'EOF' >\"$1\"\nlisten 80;\nEOF\n}}\n"
                                                          "conf {d}/site.conf\n"),
]

SH_ORACLE = [
    ("sh: echo without backslashes", "echo 'plain text' > {d}/e\n"),
    ("sh: printf is the same everywhere", "printf 'a\\tb\\n' > {d}/p\n"),
]


def _run(shell: str, script: str, directory: Path) -> dict[str, str]:
    path = shutil.which(shell)
    if path is None:
        pytest.skip(f"{shell} is not installed")
    subprocess.run([path, "-c", script], cwd="/", check=False, capture_output=True, timeout=30)
    return {str(p): p.read_text() for p in sorted(directory.rglob("*")) if p.is_file()}


def _predicted(script, shell: str = "bash") -> dict[str, str | None]:
    files: dict[str, str | None] = {}
    for w in script.writes:
        if w.path in script.removed:
            continue
        if w.copied_from is not None and w.text is None:
            continue
        before = files.get(w.path, "") if w.append else ""
        files[w.path] = None if w.text is None or before is None else before + w.text
    return files


@pytest.mark.parametrize(("case", "template"), ORACLE, ids=[c for c, _ in ORACLE])
def test_bash_writes_what_the_reader_predicts(tmp_path, case, template):
    text = template.format(d=tmp_path)
    read = read_script(text)
    assert read.notes == (), read.notes
    assert _predicted(read) == _run("bash", text, tmp_path)


@pytest.mark.parametrize(("case", "template"), SH_ORACLE, ids=[c for c, _ in SH_ORACLE])
def test_dash_writes_what_the_reader_predicts(tmp_path, case, template):
    text = template.format(d=tmp_path)
    assert _predicted(read_script(text, shell="sh")) == _run("dash", text, tmp_path)


def _one(text: str, **kw) -> shellscript.FileWrite:
    read = read_script(text, **kw)
    assert len(read.writes) == 1, read
    return read.writes[0]


# ---------------------------------------------------------------------------------------
# Copies: the host view resolves their text from the host's file at the source


@pytest.mark.parametrize(("text", "path", "source", "how"), [
    ("install -m 0644 /etc/bind/isp-staging/named.conf /etc/bind/named.conf", "/etc/bind/named.conf",
     "/etc/bind/isp-staging/named.conf", "install"),
    ("cp /tmp/named.conf.options /etc/bind/", "/etc/bind/named.conf.options", "/tmp/named.conf.options", "cp"),
    ("sudo mv -f /home/deploy/rules.v4 /etc/iptables/rules.v4", "/etc/iptables/rules.v4",
     "/home/deploy/rules.v4", "mv"),
    ("install -D -o root -g root -m 640 -t /etc/postfix /tmp/main.cf", "/etc/postfix/main.cf", "/tmp/main.cf",
     "install"),
    ("cp -t /etc/nginx/sites-available /tmp/webmail", "/etc/nginx/sites-available/webmail", "/tmp/webmail", "cp"),
    ("ln -sf /etc/nginx/sites-available/webmail /etc/nginx/sites-enabled/webmail",
     "/etc/nginx/sites-enabled/webmail", "/etc/nginx/sites-available/webmail", "ln -s"),
    ("ln -s ../sites-available/www /etc/nginx/sites-enabled/www", "/etc/nginx/sites-enabled/www",
     "/etc/nginx/sites-available/www", "ln -s"),
    ("cd /etc/bind && cp named.conf.local.new named.conf.local", "/etc/bind/named.conf.local",
     "/etc/bind/named.conf.local.new", "cp"),
    ("cat /tmp/rules.v6 > /etc/iptables/rules.v6", "/etc/iptables/rules.v6", "/tmp/rules.v6", "cat"),
    ("sudo tee /etc/caddy/Caddyfile < /tmp/Caddyfile > /dev/null", "/etc/caddy/Caddyfile", "/tmp/Caddyfile", "tee"),
])
def test_copies_name_their_source(text, path, source, how):
    w = _one(text)
    assert (w.path, w.copied_from, w.how, w.text, w.problem) == (path, source, how, None, None)


@pytest.mark.parametrize(("text", "source"), [
    # A scratch copy renamed into place (the atomic-replace idiom): the real file holds the first source's bytes.
    ("cp /srv/stage/named.conf /srv/stage/named.conf.swap\nmv -f -T /srv/stage/named.conf.swap /etc/bind/named.conf",
     "/srv/stage/named.conf"),
    ("install -m 600 /tmp/a /tmp/b\ncp /tmp/b /tmp/c\nmv /tmp/c /etc/bind/named.conf", "/tmp/a"),
    # A symlink reads its target path, whatever was copied there: it names the path, not the path's source.
    ("cp /tmp/www /etc/nginx/sites-available/www\nln -s /etc/nginx/sites-available/www /etc/bind/named.conf",
     "/etc/nginx/sites-available/www"),
    # A file written again after the copy is no longer a copy of the first source.
    ("cp /tmp/a /tmp/b\necho 'options { };' > /tmp/b\ncp /tmp/b /etc/bind/named.conf", "/tmp/b"),
])
def test_a_copy_of_a_copy_names_the_first_source(text, source):
    final = [w for w in read_script(text).writes if w.path == "/etc/bind/named.conf"]
    assert [w.copied_from for w in final] == [source]


@pytest.mark.parametrize(("text", "path"), [
    ("cp /tmp/named.conf.options /etc/bind", "/etc/bind/named.conf.options"),
    ("mv Caddyfile.new /etc/caddy", "/etc/caddy/Caddyfile.new"),
    ("mkdir -p /etc/myapp\ncp /tmp/app.conf /etc/myapp", "/etc/myapp/app.conf"),
    ("install -m 644 /tmp/www.conf /etc/nginx/sites-available/www", "/etc/nginx/sites-available/www"),
    ("cp /tmp/x.conf /etc/myapp", "/etc/myapp"),
])
def test_destination_directory_or_file(text, path):
    read = read_script(text)
    assert [w.path for w in read.writes] == [path] and read.notes == ()


def test_our_install_script_copies_staged_files_and_ignores_backup_and_restore():
    text = """set -eu
stamp=$(date -u +%Y%m%dT%H%M%SZ)
named-checkconf /etc/bind/isp-staging/named.conf || { echo 'validation failed' >&2; exit 1; }
mkdir -p "$(dirname /etc/bind/named.conf)"
if [ -e /etc/bind/named.conf ]; then cp -p /etc/bind/named.conf /etc/bind/named.conf."$stamp".bak; fi
install -m 0644 /etc/bind/isp-staging/named.conf /etc/bind/named.conf
if ! { rndc reload; }; then
  if [ -e /etc/bind/named.conf."$stamp".bak ]; then cp -p /etc/bind/named.conf."$stamp".bak /etc/bind/named.conf; \
else rm -f /etc/bind/named.conf; fi
  rndc reload || true
  echo 'reload failed; previous configuration restored' >&2; exit 1
fi
"""
    read = read_script(text)
    assert [(w.path, w.copied_from, w.conditional) for w in read.writes] == [
        ("/etc/bind/named.conf", "/etc/bind/isp-staging/named.conf", False)]
    assert read.notes == () and read.removed == ()


# ---------------------------------------------------------------------------------------
# Text known only at run time: the file counts, its text does not


@pytest.mark.parametrize(("text", "why"), [
    ("cat > /etc/bind/named.conf.options <<EOF\nlisten-on { $(hostname -I); };\nEOF", "$(hostname -I)"),
    ("cat > /etc/motd <<EOF\nbuilt `date`\nEOF", "`date`"),
    ("cat > /etc/postfix/main.cf <<EOF\nmyhostname = $HOSTNAME\nEOF", "$HOSTNAME"),
    ("echo \"$1\" > /etc/mailname", "$1"),
    ("printf '%s\\n' \"$(cat /tmp/x)\" > /etc/x.conf", "$(cat /tmp/x)"),
    ("iptables-save > /etc/iptables/rules.v4", "iptables-save"),
    ("curl -fsSL https://example.org/named.conf -o /etc/bind/named.conf", "https://example.org/named.conf"),
    ("sed -i 's/recursion no/recursion yes/' /etc/bind/named.conf.options", "sed -i"),
    ("echo \"${ZONE:-example.net}\" > /etc/zone", "${ZONE:-example.net}"),
])
def test_run_time_text_is_unknown_with_the_reason(text, why):
    w = _one(text)
    assert w.text is None and w.copied_from is None
    assert why in w.problem


def test_environment_given_to_the_command_is_known():
    w = _one('cat > "$CONF" <<EOF\nrecursion $MODE;\nEOF', environment={"CONF": "/etc/bind/x.conf", "MODE": "no"})
    assert (w.path, w.text) == ("/etc/bind/x.conf", "recursion no;\n")


def test_stdin_of_the_command_feeds_cat():
    w = _one('umask 077 && cat > "$ISP_STAGED_PATH"', environment={"ISP_STAGED_PATH": "/etc/bind/isp-staging/a"},
             stdin="zone text\n")
    assert (w.path, w.text) == ("/etc/bind/isp-staging/a", "zone text\n")


def test_variable_set_in_a_branch_is_unknown_afterwards():
    read = read_script("F=/etc/a\nif [ -d /etc/bind ]; then F=/etc/bind/a; fi\necho x > \"$F\"\n")
    assert read.writes == () and "known only when the command runs" in read.notes[0]


def test_conditional_writes_are_marked():
    read = read_script("[ -f /etc/x ] || echo default > /etc/x\n"
                       "if grep -q foo /etc/y; then :; else echo foo >> /etc/y; fi\n"
                       "case \"$1\" in web) echo w > /etc/role ;; esac\n"
                       "[ -d /etc/nginx ] && echo n > /etc/n\n"
                       "apt-get update && echo always > /etc/always\n")
    assert [(w.path, w.conditional) for w in read.writes] == [
        ("/etc/x", True), ("/etc/y", True), ("/etc/role", True), ("/etc/n", True), ("/etc/always", False)]


def test_echo_under_sh_with_backslashes_is_unknown():
    w = _one("echo -e 'a\\tb' > /etc/x", shell="sh")
    assert w.text is None and "dash" in w.problem


def test_relative_path_from_unknown_directory_is_a_note():
    read = read_script("echo x > named.conf")
    assert read.writes == () and "relative path" in read.notes[0]


def test_devices_are_not_files():
    assert read_script("echo x > /dev/null; echo y >&2; echo z 2>/dev/null 1>&2").writes == ()


# ---------------------------------------------------------------------------------------
# Other hosts, nested shells


def test_ssh_from_a_local_command_writes_on_that_host():
    read = read_script("ssh -o StrictHostKeyChecking=no root@ns1.example.net 'cat > /etc/bind/named.conf' "
                       "<<'EOF'\nrecursion no;\nEOF\n"
                       "ssh -i key deploy@192.0.2.53 <<'EOF'\necho yes > /etc/y\nEOF\n", shell="sh")
    assert [(w.host, w.path, w.text) for w in read.writes] == [
        ("ns1.example.net", "/etc/bind/named.conf", "recursion no;\n"), ("192.0.2.53", "/etc/y", "yes\n")]


def test_scp_delivers_an_unread_file_to_the_remote_host():
    w = _one("scp -P 2222 ./named.conf root@ns1:/etc/bind/named.conf")
    assert (w.host, w.path, w.text) == ("ns1", "/etc/bind/named.conf", None)


def test_sudo_sh_c_and_su_c():
    read = read_script("sudo sh -c 'echo \"recursion no;\" > /etc/bind/r.conf'\n"
                       "su - root -c 'printf \"%s\\n\" x > /etc/s'\n"
                       "sudo -u root -H bash -c \"cat > /etc/b <<'EOF'\nbody\nEOF\"\n")
    assert [(w.path, w.text) for w in read.writes] == [
        ("/etc/bind/r.conf", "recursion no;\n"), ("/etc/s", "x\n"), ("/etc/b", "body\n")]


def test_sh_c_unexported_variable_is_unknown():
    read = read_script("F=/etc/x\nsh -c 'echo a > \"$F\"'\n")
    assert read.writes == () and "$F" in read.notes[0]


# ---------------------------------------------------------------------------------------
# Packages and services


@pytest.mark.parametrize(("text", "packages"), [
    ("apt-get install -y nginx", ("nginx",)),
    ("apt install -y --no-install-recommends apache2 libapache2-mod-php", ("apache2", "libapache2-mod-php")),
    ("DEBIAN_FRONTEND=noninteractive apt-get -y -q install bind9 bind9utils", ("bind9", "bind9utils")),
    ("sudo DEBIAN_FRONTEND=noninteractive apt-get -o Dpkg::Options::=--force-confold install -y postfix",
     ("postfix",)),
    ("apt-get -t bookworm-backports install -y caddy=2.6.2-1 lighttpd:amd64", ("caddy", "lighttpd")),
    ("PKGS='dovecot-imapd dovecot-lmtpd'\napt-get install -y $PKGS", ("dovecot-imapd", "dovecot-lmtpd")),
    ("apt-get update && apt-get upgrade -y", ()),
    ("apt-get install -y ./local.deb", ()),
])
def test_packages_installed(text, packages):
    assert read_script(text).packages == packages


def test_removed_packages():
    assert read_script("apt-get purge -y apache2 && apt-get autoremove -y").removed_packages == ("apache2",)


@pytest.mark.parametrize(("text", "started"), [
    ("systemctl enable --now apache2", ("apache2",)),
    ("systemctl daemon-reload\nsystemctl restart nginx.service postfix", ("nginx", "postfix")),
    ("systemctl reload bind9 || systemctl restart bind9", ("bind9",)),
    ("service nginx start", ("nginx",)),
    ("update-rc.d lighttpd defaults && invoke-rc.d lighttpd start", ("lighttpd",)),
    ("/etc/init.d/apache2 restart", ("apache2",)),
    ("systemctl stop apache2 && systemctl disable apache2", ()),
    ("systemctl -H web1 restart nginx", ()),
    ("systemctl status named", ()),
])
def test_services_started(text, started):
    assert read_script(text).started == started


def test_service_actions_keep_lines():
    read = read_script("set -e\nsystemctl enable --now named\n")
    assert [(s.unit, s.action, s.line) for s in read.services] == [("named", "enable", 2), ("named", "start", 2)]


# ---------------------------------------------------------------------------------------
# What cannot be read: a note naming the line, nothing from there on, never an exception


@pytest.mark.parametrize(("text", "line", "words"), [
    ("echo ok > /etc/a\necho 'unbalanced > /etc/b\n", 2, "unbalanced quote"),
    ("echo ok > /etc/a\ncat > /etc/b <<EOF\nnever closed\n", 2, "never closed"),
    ("echo ok > /etc/a\ncat > /etc/b <<EOF\nbody\n  EOF\necho after > /etc/c\n", 2, "never closed"),
    ("echo ok > /etc/a\nif true; then\n echo x > /etc/b\n", 2, "expected"),
    ("echo ok > /etc/a\ncat > /etc/b <<A; cat > /etc/c <<B\na\nA\nb\nB\n", 2, "parser"),
])
def test_parse_errors_are_noted_and_nothing_after_is_judged(text, line, words):
    read = read_script(text)
    assert [w.path for w in read.writes] == ["/etc/a"]
    assert len(read.notes) >= 1 and read.notes[0].startswith(f"line {line}:") and words in read.notes[0], read.notes


def test_writes_to_unknown_paths_are_noted_but_backups_are_not():
    read = read_script('cat > "$DEST" <<EOF\nx\nEOF\ncp /etc/a /etc/a."$(date +%s)".bak\n')
    assert read.writes == ()
    assert len(read.notes) == 1 and "$DEST" in read.notes[0]


def test_running_another_script_is_noted_but_a_syntax_check_is_not():
    assert "runs the script /tmp/setup.sh" in read_script("bash /tmp/setup.sh").notes[0]
    assert read_script("bash -n /usr/local/sbin/isp-staging/backup && sh -en /tmp/x").notes == ()


def test_a_variable_set_inside_a_branch_is_known_inside_it():
    read = read_script("if [ ! -s /etc/key ]; then f=/etc/key; head -c 24 /dev/urandom | base64 > \"$f.new\" && "
                       "mv \"$f.new\" \"$f\"; fi\necho x > \"$f\"\n")
    assert [(w.path, w.conditional) for w in read.writes] == [("/etc/key.new", True), ("/etc/key", True)]
    assert "$f" in read.notes[0]  # after the branch, f may be unset


@pytest.mark.parametrize("text", [
    "(" * 5000 + "echo x > /etc/x" + ")" * 5000,
    "{ " * 3000 + "echo x > /etc/x;" + " }" * 3000,
    "f() { f; }\nf\n",
    "a() { b; }\nb() { a; }\na\n",
    "x=$(" * 2000 + ")" * 2000,
    "'" * 10001,
    "cat <<EOF\n" * 3000,
    "\x00\xff\ufffd" * 1000,
    "echo $((" * 500,
    "for i in 1 2 3 4 5 6 7 8; do for j in 1 2 3 4 5 6 7 8; do for k in 1 2 3 4 5 6 7 8; do "
    "for l in 1 2 3 4 5 6 7 8; do for m in 1 2 3 4 5 6 7 8; do echo $i > /etc/x; done; done; done; done; done",
])
def test_hostile_text_never_raises_and_stays_bounded(text):
    started = time.monotonic()
    read = read_script(text)
    assert isinstance(read, shellscript.Script)
    assert time.monotonic() - started < 5


def test_huge_text_is_read_up_to_the_limit_and_noted():
    text = "echo x > /etc/first\n" + "true\n" * (shellscript.MAX_TEXT // 5 + 10) + "echo y > /etc/last\n"
    read = read_script(text)
    assert [w.path for w in read.writes] == ["/etc/first"]
    assert any("longer than" in n for n in read.notes)


def test_results_are_immutable():
    read = read_script("echo x > /etc/x")
    with pytest.raises(AttributeError):
        read.writes[0].text = "y"  # type: ignore[misc]


def test_many_heredocs_the_grammar_misreads_are_fixed_up_to_a_bound():
    one = "cat > /etc/a{n} <<EOF\nbody\n  EOF\nEOF\n"
    fixed = read_script("".join(one.format(n=n) for n in range(3)))
    assert [(w.path, w.text) for w in fixed.writes] == [(f"/etc/a{n}", "body\n  EOF\n") for n in range(3)]
    assert fixed.notes == ()
    many = read_script("".join(one.format(n=n) for n in range(shellscript.shellwalk.MAX_REPARSE + 5)))
    assert len(many.writes) < shellscript.shellwalk.MAX_REPARSE
    assert "here-documents the parser misreads" in many.notes[0]
