"""Where a path of the config may live: a host's backup directory, a zonesFrom file of the project."""

from __future__ import annotations

import os
import signal
import socket
import stat
from pathlib import Path

import pytest

from components.config import ConfigError, parse_stack_config
from components.config.paths import PathRuleError, host_directory, open_project_file, project_file

# As an operator might write them, each with the rule that refuses it.
MISPLACED_DIRECTORIES = [
    ("/", "not-a-system-directory"), ("/etc", "not-a-system-directory"), ("/var", "not-a-system-directory"),
    ("/usr", "not-a-system-directory"), ("/boot", "not-a-system-directory"), ("/opt", "not-a-system-directory"),
    ("/srv", "not-a-system-directory"), ("/var/lib", "not-a-system-directory"),
    ("/var/log", "not-a-system-directory"), ("/var/backups", "not-a-system-directory"),
    ("/usr/local", "not-a-system-directory"), ("/mnt", "not-a-system-directory"),
    ("/lib64", "not-in-a-system-tree"), ("/libx32/x", "not-in-a-system-tree"),
    ("/etc/postgresql", "not-in-a-system-tree"), ("/etc/ssl/private", "not-in-a-system-tree"),
    ("/usr/local/backups", "not-in-a-system-tree"), ("/boot/efi/db", "not-in-a-system-tree"),
    ("/proc/self", "not-in-a-system-tree"), ("/sys/fs", "not-in-a-system-tree"),
    ("/dev/sda", "not-in-a-system-tree"), ("/bin/db", "not-in-a-system-tree"),
    ("/tmp", "not-temporary"), ("/tmp/db", "not-temporary"), ("/var/tmp/db", "not-temporary"),
    ("/dev/shm/db", "not-temporary"), ("/run/db", "not-temporary"), ("/var/run/db", "not-temporary"),
    ("/var/lock/db", "not-temporary"),
    ("/home", "not-hidden-from-the-job"), ("/home/alice/dumps", "not-hidden-from-the-job"),
    ("/root/dumps", "not-hidden-from-the-job"),
    ("/var/lib/postgresql", "not-other-programs-data"), ("/var/lib/mysql/backups", "not-other-programs-data"),
    ("/var/log/postgresql", "not-other-programs-data"), ("/var/www/html/dumps", "not-other-programs-data"),
    ("/srv/www/dumps", "not-other-programs-data"), ("/var/cache/dumps", "not-other-programs-data"),
    ("/var/spool/postfix/db", "not-other-programs-data"), ("/var/mail/db", "not-other-programs-data"),
    ("var/backups/db", "absolute-path"), ("", "absolute-path"), ("~/dumps", "absolute-path"),
    ("/var/backups/db/", "normalized"), ("/var//backups/db", "normalized"), ("/var/backups/./db", "normalized"),
    ("/var/backups/../../etc", "normalized"), ("/var/backups/db/..", "normalized"),
    ("/var/backups/db dumps", "plain-characters"), ("/var/backups/db\n", "plain-characters"),
    ("/var/backups/$(id)", "plain-characters"), ("/var/backups/d\u00e9j\u00e0", "plain-characters"),
    ("/var/backups/db\u2028x", "plain-characters"), ("/" + "d" * 200, "bounded-length"),
]
GOOD_DIRECTORIES = ["/var/backups/db", "/var/backups/postgresql/nightly", "/srv/backups/db", "/mnt/backup/db",
                    "/backup", "/data/dumps", "/opt/backups", "/var/opt/isp/db", "/media/usb0/db"]


@pytest.mark.parametrize(("value", "rule"), MISPLACED_DIRECTORIES)
def test_a_backup_directory_out_of_place_is_refused_by_its_rule(value, rule):
    with pytest.raises(PathRuleError) as raised:
        host_directory(value)
    assert raised.value.rule == rule and str(raised.value).endswith(f"(rule: {rule})")


@pytest.mark.parametrize("value", GOOD_DIRECTORIES)
def test_a_directory_of_its_own_is_fine(value):
    assert host_directory(value) == value


def test_the_model_names_the_key_the_value_and_the_rule(prod_values):
    db = next(h for h in prod_values["hosts"] if "db" in h["roles"])
    for value, rule in (("/etc", "not-a-system-directory"), ("/tmp/db", "not-temporary"),
                        ("/var/backups/db/", "normalized")):
        db["database"]["backupDir"] = value
        with pytest.raises(ConfigError) as raised:
            parse_stack_config(prod_values, "Pulumi.prod.yaml")
        assert f'isp:hosts[5].database.backupDir = "{value}": ' in str(raised.value)
        assert f"(rule: {rule})" in str(raised.value) and "Traceback" not in str(raised.value)


@pytest.mark.parametrize(("value", "rule"), [
    ("/etc/zones.yaml", "relative-path"), ("~/zones.yaml", "relative-path"), ("", "relative-path"),
    ("../zones.yaml", "normalized"), ("zones/../../x.yaml", "normalized"), ("./zones.yaml", "normalized"),
    ("zones//a.yaml", "normalized"), ("zones/", "normalized"),
    ("zones a.yaml", "plain-characters"), ("zones\n.yaml", "plain-characters"), ("zones\\a.yaml", "plain-characters"),
    ("z" * 300 + ".yaml", "bounded-length"), ("a/" * 600 + "x", "bounded-length"),
])
def test_a_zones_from_path_is_a_plain_relative_path(value, rule):
    with pytest.raises(PathRuleError) as raised:
        project_file(value)
    assert raised.value.rule == rule


def _refusal(project: Path, name: str, max_bytes: int = 1 << 20) -> str:
    with pytest.raises(PathRuleError) as raised:
        open_project_file(name, str(project), max_bytes)
    return raised.value.rule


def test_a_symbolic_link_may_stay_inside_but_never_lead_out(tmp_path):
    project, outside = tmp_path / "project", tmp_path / "outside"
    (project / "zones").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.yaml").write_text("- name: stolen.example\n")
    (project / "zones" / "real.yaml").write_text("[]\n")
    (project / "zones" / "alias.yaml").symlink_to("real.yaml")
    (project / "out.yaml").symlink_to(outside / "secret.yaml")
    (project / "up").symlink_to(outside)
    (project / "passwd.yaml").symlink_to("/etc/passwd")
    real, content = open_project_file("zones/alias.yaml", str(project), 100)
    assert (real, content) == (str(project / "zones" / "real.yaml"), b"[]\n")
    for name in ("out.yaml", "up/secret.yaml", "passwd.yaml"):
        assert _refusal(project, name) == "inside-the-project"


def test_only_a_regular_file_is_opened_and_a_fifo_never_blocks(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "dir.yaml").mkdir()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(tmp_path / "sock.yaml"))
    previous = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("opening a zonesFrom FIFO blocked"))
    signal.alarm(5)
    try:
        assert _refusal(tmp_path, "fifo.yaml") == "regular-file"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        listener.close()
    assert _refusal(tmp_path, "dir.yaml") == "regular-file"
    assert _refusal(tmp_path, "sock.yaml") == "regular-file"
    assert _refusal(tmp_path, "absent.yaml") == "readable"
    if os.geteuid() == 0:  # mknod needs root: /dev/zero's device, made inside the project
        os.mknod(tmp_path / "zero.yaml", stat.S_IFCHR | 0o600, os.makedev(1, 5))
        assert _refusal(tmp_path, "zero.yaml") == "regular-file"


def test_a_file_is_read_up_to_its_bound(tmp_path):
    (tmp_path / "big.yaml").write_text("#" * 101)
    assert _refusal(tmp_path, "big.yaml", max_bytes=100) == "bounded-size"
    assert open_project_file("big.yaml", str(tmp_path), 101)[1] == b"#" * 101


def test_an_ancestor_of_a_system_directory_is_one_too(monkeypatch):
    """`install -d -o postgres /var` would hand /var/lib and /var/log over with it: an ancestor of a system
    directory (here a site-specific one) is refused like the directory itself."""
    from components.config import paths

    monkeypatch.setattr(paths, "SYSTEM_DIRECTORIES", paths.SYSTEM_DIRECTORIES | {"/data/shared/system"})
    for value in ("/data", "/data/shared", "/data/shared/system"):
        with pytest.raises(PathRuleError, match=r"rule: not-a-system-directory"):
            host_directory(value)
    assert host_directory("/data/shared/backups") == "/data/shared/backups"
