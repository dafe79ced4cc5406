"""Command text as evidence: the files a remote/local Command writes reach the view as HostFiles on the
connection's host, with what it installs and starts on its CommandText, built as the SDK hands the
resources to a policy."""

from __future__ import annotations

from hostview import evidence, hosts
from pack_builders import ASSET, SECRET, SIG, UNKNOWN, copy_file, resource, view_of

OPEN_RESOLVER = """options {
    directory "/var/cache/bind";
    recursion yes;
    allow-recursion { any; };
};
"""


def remote(name: str, create, host="ns1.example.net", update=None, **extra):
    props = {"connection": {SIG: SECRET, "value": {"host": host, "user": "root", "privateKey": "k"}},
             "create": create, **extra}
    if update is not None:
        props["update"] = update
    return resource("command:remote:Command", name, props)


def local(name: str, create, **extra):
    return resource("command:local:Command", name, {"create": create, **extra})


def test_a_heredoc_in_a_remote_command_is_a_file_on_the_connection_host():
    view = view_of(remote("setup-bind", f"set -e\ncat > /etc/bind/named.conf.options <<'EOF'\n{OPEN_RESOLVER}EOF\n"
                                        "systemctl restart named\n"))
    [f] = view.files
    assert (f.host, f.path, f.kind, f.text, f.problem) == (
        "ns1.example.net", "/etc/bind/named.conf.options", "bind", OPEN_RESOLVER, None)
    assert f.via == "heredoc in command setup-bind (line 2)"
    assert f.label == "/etc/bind/named.conf.options on ns1.example.net (heredoc in command setup-bind (line 2))"
    assert view.parsed(f) is not None and view.parsed(f).problems == []


def test_copies_appends_and_kinds():
    view = view_of(remote("web", "apt-get install -y nginx\n"
                                 "install -m 644 /tmp/www.conf /etc/nginx/sites-available/www\n"
                                 "ln -sf /etc/nginx/sites-available/www /etc/nginx/sites-enabled/www\n"
                                 "echo 'net.ipv4.ip_forward=1' >> /etc/sysctl.conf\n"
                                 "printf 'x\\n' | tee -a /etc/postfix/main.cf\n", host="192.0.2.80"))
    got = [(f.path, f.kind, f.copied_from, f.append, f.via) for f in view.files]
    assert got == [
        ("/etc/nginx/sites-available/www", "nginx", "/tmp/www.conf", False, "install in command web (line 2)"),
        ("/etc/nginx/sites-enabled/www", "nginx", "/etc/nginx/sites-available/www", False,
         "ln -s in command web (line 3)"),
        ("/etc/sysctl.conf", "other", None, True, "echo in command web (line 4)"),
        ("/etc/postfix/main.cf", "postfix-main", None, True, "tee in command web (line 5)"),
    ]
    assert {f.host for f in view.files} == {"192.0.2.80"}


def test_command_text_carries_packages_services_and_notes():
    view = view_of(remote("setup", "DEBIAN_FRONTEND=noninteractive apt-get -y install apache2 bind9\n"
                                   "systemctl enable --now apache2\nservice named restart\n"
                                   "cat > \"$CONF\" <<EOF\nx\nEOF\n"))
    [command] = view.commands
    assert command.packages == ("apache2", "bind9")
    assert command.services == ("apache2", "named")
    assert command.notes == ('command setup on ns1.example.net: line 4: writes to "$CONF", a path known only when '
                             "the command runs ($CONF (set outside the script)); that file is not judged",)
    assert command.texts and command.host == "ns1.example.net"


def test_update_is_read_when_it_differs_from_create():
    same = view_of(remote("a", "echo one > /etc/a.conf", update="echo one > /etc/a.conf"))
    assert [f.via for f in same.files] == ["echo in command a (line 1)"]
    differs = view_of(remote("b", "echo one > /etc/b.conf", update="echo two > /etc/b.conf\napt-get install -y nginx"))
    assert [(f.text, f.via) for f in differs.files] == [
        ("one\n", "echo in command b (line 1)"), ("two\n", "echo in command b (update, line 1)")]
    assert differs.commands[0].packages == ("nginx",)


def test_unknown_command_text_at_preview_is_an_unknown_not_a_note():
    view = view_of(remote("later", UNKNOWN))
    assert view.files == [] and view.commands[0].notes == ()
    assert view.unknowns == ["the command text of later"]


def test_unknown_connection_gives_no_host():
    res = resource("command:remote:Command", "x", {"connection": UNKNOWN, "create": "echo a > /etc/bind/named.conf"})
    [f] = view_of(res).files
    assert (f.host, f.kind, f.text) == ("", "bind", "a\n")


def test_text_known_only_at_run_time_is_a_problem_of_the_file():
    view = view_of(remote("gen", "cat > /etc/bind/named.conf.options <<EOF\nlisten-on { $(hostname -I); };\nEOF\n"))
    [f] = view.files
    assert f.text is None and "$(hostname -I)" in f.problem
    assert view.unknowns == [] and any("$(hostname -I)" in p for p in view.problems)


def test_a_parse_error_is_a_note_on_the_command():
    view = view_of(remote("broken", "echo ok > /etc/ok.conf\necho 'oops > /etc/bind/named.conf\n"))
    assert [f.path for f in view.files] == ["/etc/ok.conf"]
    assert "line 2: the shell parser could not read" in view.commands[0].notes[0]


def test_the_lab_local_delivery_still_stages_its_stdin_once():
    res = local("ns1-named-conf", 'umask 077 && cat > "$ISP_STAGED_PATH"', stdin="options { recursion no; };\n",
                environment={"ISP_HOST": "10.0.0.53", "ISP_STAGED_PATH": "/etc/bind/isp-staging/named.conf"},
                interpreter=["/bin/sh", "-c", "enter-host", "isp-host", "isp-lab-ns1", "/root"])
    [f] = view_of(res).files
    assert (f.host, f.path, f.kind, f.text, f.via) == (
        "10.0.0.53", "/etc/bind/isp-staging/named.conf", "bind", "options { recursion no; };\n", "")


def test_a_local_command_reads_its_stdin_and_environment():
    res = local("push", 'cat > "$DEST"', stdin="recursion no;\n",
                environment={"DEST": "/etc/bind/r.conf", "ISP_HOST": "ns1.example.net"})
    [f] = view_of(res).files
    assert (f.host, f.path, f.text) == ("ns1.example.net", "/etc/bind/r.conf", "recursion no;\n")


def test_a_local_command_without_a_host_writes_on_the_deploying_machine_not_on_a_host():
    view = view_of(local("install", "install -m 0644 /etc/bind/isp-staging/named.conf /etc/bind/named.conf\n"
                                    "echo x > /etc/bind/named.conf.local\n"))
    assert view.files == []
    assert view.commands[0].notes == (
        "command install: a local.Command that names no host (no ISP_HOST in its environment) runs where Pulumi "
        "runs, or wherever its interpreter takes it; what it writes (/etc/bind/named.conf, /etc/bind/named.conf.local) "
        "is no known host's file and is not judged",)


def test_a_local_command_over_ssh_writes_on_the_ssh_host():
    res = local("push", "ssh root@ns1.example.net 'cat > /etc/bind/named.conf.options' <<'EOF'\n"
                        f"{OPEN_RESOLVER}EOF\n")
    [f] = view_of(res).files
    assert (f.host, f.path, f.text) == ("ns1.example.net", "/etc/bind/named.conf.options", OPEN_RESOLVER)


def test_echo_depends_on_the_local_interpreter():
    text = "echo -e 'a\\tb' > /etc/x.conf"
    env = {"ISP_HOST": "192.0.2.1"}
    [plain] = view_of(local("sh", text, environment=env)).files
    [bash] = view_of(local("bash", text, interpreter=["/bin/bash", "-c"], environment=env)).files
    assert plain.text is None and "dash" in plain.problem
    assert bash.text == "a\tb\n"


def test_files_of_is_what_the_resource_itself_delivers():
    raw = evidence.raw_resource(remote("r", "cp /tmp/named.conf /etc/bind/named.conf\n"))
    [f] = evidence.files_of(raw)
    assert (f.path, f.copied_from, f.text) == ("/etc/bind/named.conf", "/tmp/named.conf", None)


def test_the_host_view_resolves_a_copy_from_the_staged_file():
    """Our own delivery, written by hand: CopyToRemote into a staging directory, then install into place."""
    staged = copy_file("ns1.example.net", "/etc/bind/isp-staging/named.conf.options", OPEN_RESOLVER)
    install = remote("install", "set -eu\ninstall -m 0644 /etc/bind/isp-staging/named.conf.options "
                                "/etc/bind/named.conf.options\nrndc reload\n")
    [host] = hosts.of(view_of(staged, install))
    effective = host.file("/etc/bind/named.conf.options")
    assert effective is not None and effective.text == OPEN_RESOLVER
    assert effective.via.startswith("install in command install")


def test_a_file_asset_copy_then_heredoc_append_is_joined_on_the_host():
    asset = resource("command:remote:CopyToRemote", "opts", {
        "connection": {"host": "ns1.example.net"}, "remotePath": "/etc/bind/named.conf.local",
        "source": {SIG: ASSET, "text": 'zone "example.net" { type master; file "db.example.net"; };\n'}})
    more = remote("more", "cat >> /etc/bind/named.conf.local <<'EOF'\ninclude \"/etc/bind/extra.conf\";\nEOF\n")
    [host] = hosts.of(view_of(asset, more))
    assert host.file("/etc/bind/named.conf.local").text.endswith('include "/etc/bind/extra.conf";\n')
