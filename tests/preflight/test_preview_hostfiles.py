"""Host files: what CopyToRemote would put on each host, written under build/<stack>/hosts."""

from __future__ import annotations

from pathlib import Path

from preflight.hostfiles import write_host_files
from preflight.model import ARCHIVE_SIG, ASSET_SIG, SECRET_SIG, SIG_KEY, UNKNOWN, Registration

PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY----- not-a-real-key"


def secret(value):
    return {SIG_KEY: SECRET_SIG, "value": value}


def copy(name: str, *, host=None, remote_path=None, source=None, connection=None) -> Registration:
    connection = connection if connection is not None else secret(
        {"host": host, "user": "root", "privateKey": PRIVATE_KEY, "password": "hunter2"})
    return Registration(
        urn=f"urn:pulumi:dev::p::command:remote:CopyToRemote::{name}",
        type="command:remote:CopyToRemote",
        name=name,
        custom=True,
        inputs={"connection": connection, "remotePath": remote_path, "source": source},
    )


def text(content: str):
    return {SIG_KEY: ASSET_SIG, "text": content}


def all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_string_and_file_assets_land_under_the_host(tmp_path):
    program = tmp_path / "program"
    (program / "files").mkdir(parents=True)
    (program / "files" / "named.conf").write_text("options { recursion no; };\n")
    build = tmp_path / "build"
    result = write_host_files(
        [
            copy("a", host="ns1.example.net", remote_path="/etc/bind/named.conf",
                 source={SIG_KEY: ASSET_SIG, "path": "files/named.conf"}),
            copy("b", host="mx1.example.net", remote_path="/etc/postfix/main.cf", source=text("smtpd_banner = mx1\n")),
        ],
        program_dir=program, build_dir=build, stack="dev",
    )
    hosts = build / "dev" / "hosts"
    assert (hosts / "ns1.example.net/etc/bind/named.conf").read_text() == "options { recursion no; };\n"
    assert (hosts / "mx1.example.net/etc/postfix/main.cf").read_text() == "smtpd_banner = mx1\n"
    assert [(f.host, f.remote_path) for f in result.written] == [
        ("ns1.example.net", "/etc/bind/named.conf"), ("mx1.example.net", "/etc/postfix/main.cf")]
    assert result.notes == []
    # The connection is only read for its host.
    assert PRIVATE_KEY.encode() not in all_bytes(build)
    assert b"hunter2" not in all_bytes(build)


def test_traversal_never_leaves_the_host_directory(tmp_path):
    build = tmp_path / "build"
    result = write_host_files(
        [
            copy("up", host="web1", remote_path="/../../../../escaped.txt", source=text("x")),
            copy("mid", host="web1", remote_path="etc/../../../../../tmp/also.txt", source=text("y")),
            copy("badhost", host="../../outside", remote_path="/etc/z", source=text("z")),
        ],
        program_dir=tmp_path, build_dir=build, stack="dev",
    )
    hosts = (build / "dev" / "hosts").resolve()
    files = [p.resolve() for p in tmp_path.rglob("*") if p.is_file()]
    assert files, "the two legitimate-looking paths are resolved like the remote host would"
    assert all(f.is_relative_to(hosts / "web1") for f in files)
    assert sorted(f.relative_to(hosts / "web1").as_posix() for f in files) == ["escaped.txt", "tmp/also.txt"]
    assert [n.urn.rsplit("::", 1)[1] for n in result.notes] == ["badhost"]


def test_unknowns_and_secret_content_are_skipped_with_a_note(tmp_path):
    build = tmp_path / "build"
    result = write_host_files(
        [
            copy("host-unknown", host=UNKNOWN, remote_path="/etc/a", source=text("a")),
            copy("conn-unknown", connection=UNKNOWN, remote_path="/etc/a", source=text("a")),
            copy("path-unknown", host="h", remote_path=UNKNOWN, source=text("a")),
            copy("source-unknown", host="h", remote_path="/etc/b", source=UNKNOWN),
            copy("secret-source", host="h", remote_path="/etc/c", source=secret(text("s3cret"))),
            copy("missing-file", host="h", remote_path="/etc/d", source={SIG_KEY: ASSET_SIG, "path": "nope.txt"}),
        ],
        program_dir=tmp_path, build_dir=build, stack="dev",
    )
    assert result.written == []
    assert [n.urn.rsplit("::", 1)[1] for n in result.notes] == [
        "host-unknown", "conn-unknown", "path-unknown", "source-unknown", "secret-source", "missing-file"]
    assert b"s3cret" not in all_bytes(build)


def test_archives_copy_a_directory_and_a_stale_tree_is_cleaned(tmp_path):
    program = tmp_path / "program"
    (program / "site" / "css").mkdir(parents=True)
    (program / "site" / "index.html").write_text("<h1>hi</h1>")
    (program / "site" / "css" / "a.css").write_text("body{}")
    build = tmp_path / "build"
    stale = build / "dev" / "hosts" / "old-host" / "etc" / "stale.conf"
    stale.parent.mkdir(parents=True)
    stale.write_text("from an earlier run")
    result = write_host_files(
        [
            copy("site", host="web1", remote_path="/var/www/html", source={SIG_KEY: ARCHIVE_SIG, "path": "site"}),
            copy("map", host="web1", remote_path="/srv", source={SIG_KEY: ARCHIVE_SIG, "assets": {"x.txt": text("x")}}),
        ],
        program_dir=program, build_dir=build, stack="dev",
    )
    web1 = build / "dev" / "hosts" / "web1"
    assert (web1 / "var/www/html/index.html").read_text() == "<h1>hi</h1>"
    assert (web1 / "var/www/html/css/a.css").read_text() == "body{}"
    assert (web1 / "srv/x.txt").read_text() == "x"
    assert not stale.exists()
    assert len(result.written) == 3


def test_a_second_copy_to_the_same_file_is_noted(tmp_path):
    result = write_host_files(
        [copy("one", host="h", remote_path="/etc/f", source=text("1")),
         copy("two", host="h", remote_path="/etc/f", source=text("2"))],
        program_dir=tmp_path, build_dir=tmp_path / "build", stack="dev",
    )
    assert (tmp_path / "build/dev/hosts/h/etc/f").read_text() == "2"
    assert len(result.notes) == 1 and "also copied by" in result.notes[0].reason
