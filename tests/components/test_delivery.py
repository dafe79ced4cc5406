"""The delivery scripts, run for real (sh = dash, and bash as over SSH) on a throwaway root: all or nothing.

Every step of the install script is made to fail, or the script is killed there (a PATH shim makes a
tool misbehave on its Nth call; a check or reload command signals its parent): after a failure every
file is byte for byte as it was, and the script says so; after SIGKILL each file is entirely old or
entirely new, and the next delivery to the host puts them back first.
"""

from __future__ import annotations

import dataclasses
import grp
import os
import subprocess
import sys
import time
from pathlib import Path

import pulumi
import pytest

from components.delivery import (
    STAGING_DIRNAME,
    HostConnection,
    ManagedFile,
    ServiceConfig,
    ServiceConfigArgs,
    install_script,
    staging_path,
    staging_script,
)
from components.render.bind import ZoneRecord, render_zone_file
from tests.components.delivery_faults import NOBODY, Host
from tests.conftest import require_tool

ROOT = os.geteuid() == 0
RESTORED = "previous configuration restored"


@pytest.fixture
def host(tmp_path) -> Host:
    host = Host.make(tmp_path)
    host.stage()
    return host


def staged(host: Host, i: int) -> Path:
    return Path(staging_path(host.files[i].path))


def test_staging_keeps_basename_beside_the_real_path():
    assert staging_path("/etc/bind/named.conf") == "/etc/bind/isp-staging/named.conf"
    assert staging_path("/etc/nftables.conf") == "/etc/isp-staging/nftables.conf"


# -- a delivery that works ---------------------------------------------------------------------------


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_a_delivery_swaps_every_file_in_with_its_mode_and_keeps_the_old_ones_aside(host, shell):
    result = host.run(host.script(), shell=shell)
    assert result.returncode == 0, result.stderr
    host.assert_all_new()
    assert host.reloaded() == ["a new", "reloaded"]
    # The staged copies stay, each equal to its installed file, owner-only; no swap copy is left.
    for i, managed in enumerate(host.files):
        assert staged(host, i).read_bytes() == Path(managed.path).read_bytes()
        assert staged(host, i).stat().st_mode & 0o777 == 0o600
        assert not Path(f"{staged(host, i)}.isp-swap").exists()
    assert not (host.state / "journal").exists()
    a, b, c = host.files
    [kept_a], [kept_b], [marker_c] = host.backups(a), host.backups(b), host.backups(c)
    assert (kept_a.read_bytes(), kept_b.read_bytes()) == (b"a old\n", b"b old\n")
    assert (kept_a.stat().st_mode & 0o777, kept_a.stat().st_uid) == (0o640, NOBODY if ROOT else os.getuid())
    assert marker_c.name.endswith(".none")  # c.key did not exist: a failed delivery removes it
    # No dated copy beside the real files, where an include glob (sites-enabled/*) could read it.
    assert sorted(p.name for p in Path(a.path).parent.iterdir()) == ["a.conf", "isp-staging", "private", "zones"]
    for directory in (host.state, *(staged(host, i).parent for i in range(3))):
        assert directory.stat().st_mode & 0o7777 == 0o700


def test_staged_copies_are_owner_only_from_the_start(tmp_path):
    host = Host.make(tmp_path)
    leftover = staged(host, 2)
    leftover.parent.mkdir(mode=0o700)
    leftover.write_text("a copy a failed delivery left, readable by all\n")
    leftover.chmod(0o644)
    host.stage()
    assert all(staged(host, i).stat().st_mode & 0o777 == 0o600 for i in range(3))
    assert leftover.read_text() == "c secret\n"


def test_backups_are_uniquely_named_pruned_and_collected_from_beside_the_file(host):
    legacy = Path(host.a.path + ".20240101T000000Z.bak")  # what the previous script left beside the file
    legacy.write_text("a older\n")
    result = host.run(host.script())
    assert result.returncode == 0, result.stderr
    assert not legacy.exists()
    assert [p.read_text() for p in host.backups(host.a)] == ["a older\n", "a old\n"]
    for version in range(1, 4):  # well within one second: the names must still differ
        files = [ManagedFile(f.path, f.content.replace("new", f"v{version}"), f.mode) for f in host.files]
        host.stage(files)
        result = host.run(host.script(files=files, checks=[], keep=3))
        assert result.returncode == 0, result.stderr
    kept = host.backups(host.a)
    assert [p.read_text() for p in kept] == ["a new\n", "a v1\n", "a v2\n"]  # the oldest went first
    assert len(host.backups(host.files[2])) == 3


# -- the staging directory and the staged files ---------------------------------------------------------


@pytest.mark.parametrize("how", ["symlink", "mode", "owner"])
def test_a_staging_directory_someone_else_could_write_to_is_refused(tmp_path, how):
    if how == "owner" and not ROOT:
        pytest.skip("giving a directory to another user needs root")
    target = tmp_path / "etc" / "isp-staging"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    if how == "symlink":
        target.parent.mkdir()
        target.symlink_to(elsewhere)
    else:
        target.mkdir(parents=True, mode=0o700)
        os.chmod(target, 0o755) if how == "mode" else os.chown(target, NOBODY, NOBODY)
    prepared = subprocess.run(["sh", "-c", staging_script([str(target)])], capture_output=True, text=True, timeout=30)
    assert prepared.returncode != 0 and f"refusing {target}" in prepared.stderr
    conf = tmp_path / "etc" / "x.conf"
    conf.write_text("old\n")
    script = install_script([ManagedFile(str(conf), "new\n")], [], [], state_dir=str(tmp_path / "state"))
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=30)
    assert result.returncode != 0 and f"refusing {target}" in result.stderr
    assert "no file of this delivery was changed" in result.stderr and conf.read_text() == "old\n"


def test_a_new_staging_directory_is_owner_only_and_its_parents_are_not(tmp_path):
    target = tmp_path / "etc" / "bind" / "zones" / "isp-staging"
    prepared = subprocess.run(["sh", "-c", staging_script([str(target)])], capture_output=True, text=True, timeout=30)
    assert prepared.returncode == 0, prepared.stderr
    assert target.stat().st_mode & 0o777 == 0o700 and target.parent.stat().st_mode & 0o777 == 0o755


# -- every fault before the first swap: nothing changes -------------------------------------------------


def _replace_staged(host: Host, i: int, how: str) -> None:
    path = staged(host, i)
    path.unlink()
    if how == "directory":
        path.mkdir()
    elif how == "symlink":
        path.symlink_to(host.root / "reloads.log")
    elif how == "fifo":
        os.mkfifo(path)


@pytest.mark.parametrize("i", range(3))
@pytest.mark.parametrize("how", ["missing", "directory", "symlink", "fifo"])
def test_a_staged_file_that_is_not_there_stops_the_delivery_before_anything(host, i, how):
    _replace_staged(host, i, how)
    result = host.run(host.script())
    assert result.returncode != 0
    assert f"staged file {staged(host, i)} is missing or not a regular file" in result.stderr
    host.assert_all_old()
    assert host.reloaded() == [] and not (host.state / "journal").exists()


@pytest.mark.parametrize("i", range(3))
@pytest.mark.parametrize("how", ["fails", "term"])
def test_each_check_that_fails_or_is_interrupted_changes_nothing(host, i, how):
    checks = host.checks()
    checks[i] = ["false"] if how == "fails" else ["sh", "-c", 'kill -TERM "$PPID"; sleep 1']
    result = host.run(host.script(checks=checks))
    assert result.returncode != 0
    expected = "validation failed: false" if how == "fails" else "interrupted by SIGTERM while checking: sh -c"
    assert expected in result.stderr and "no file of this delivery was changed" in result.stderr
    host.assert_all_old()
    assert host.staged_all_there() and host.reloaded() == []


# (tool, which call: a substring of its arguments and the Nth such call, what goes wrong, why it happens)
BEFORE_SWAP = [
    ("flock", "", 1, "fail", "the lock"),
    ("date", "", 1, "fail", "the backup stamp"),
    ("mkdir", "/state/backup", 1, "fail", "a.conf's backup directory"),
    ("mkdir", "/state/backup", 3, "fail", "c.key's backup directory"),
    ("cp", "/state/backup", 1, "fail", "a.conf's backup copy"),
    ("cp", "/state/backup", 2, "fail", "b.zone's backup copy"),
    ("cp", "/state/backup", 2, "term-fail", "a signal during b.zone's backup copy"),
    ("touch", "/state/backup", 1, "fail", "c.key's 'did not exist' marker"),
    ("mv", "journal.new", 1, "fail", "the journal"),
]


@pytest.mark.parametrize(("tool", "match", "nth", "action", "step"), BEFORE_SWAP, ids=[s[-1] for s in BEFORE_SWAP])
def test_each_fault_before_the_first_swap_changes_nothing(host, tool, match, nth, action, step):
    result = host.run(host.script(), env=host.fault(tool, match, nth, action))
    assert result.returncode != 0 and host.calls(tool) >= nth, result.stderr
    assert "no file of this delivery was changed" in result.stderr
    host.assert_all_old()
    assert host.staged_all_there() and host.reloaded() == [] and not (host.state / "journal").exists()


def test_a_delivery_waits_for_the_lock_then_gives_up_clearly(host):
    host.state.mkdir(mode=0o700)
    holder = subprocess.Popen(["flock", str(host.state / "lock"), "sleep", "30"])
    try:
        time.sleep(0.3)
        started = time.monotonic()
        result = host.run(host.script(lock_wait=1))
        assert time.monotonic() - started >= 1
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode != 0 and f"another delivery to this host holds {host.state}/lock" in result.stderr
    host.assert_all_old()
    assert host.staged_all_there()


@pytest.mark.parametrize("how", ["mode", "symlink"])
def test_a_state_directory_others_could_use_is_refused(host, how):
    if how == "mode":
        host.state.mkdir(mode=0o755)
        host.state.chmod(0o755)
    else:
        (host.root / "elsewhere").mkdir(mode=0o700)
        host.state.symlink_to(host.root / "elsewhere")
    result = host.run(host.script())
    assert result.returncode != 0 and f"refusing {host.state}" in result.stderr
    host.assert_all_old()


# -- every fault from the first swap on: every file is put back ---------------------------------------


def _swap_faults() -> list[tuple]:
    faults = []
    for i, name in enumerate(["a.conf", "b.zone", "c.key"]):
        faults.append(("chmod", i, 1, "fail", f"{name}'s mode"))
        faults.append(("cp", i, 1, "fail", f"{name}'s swap copy"))
        for action in ("fail", "term", "term-fail"):
            faults.append(("mv", i, 1, action, f"swap {name} ({action})"))
    faults.append(("mv", "journal.new", 2, "fail", "the journal before the reload"))
    return faults


SWAPS = _swap_faults()


@pytest.mark.parametrize(("tool", "which", "nth", "action", "step"), SWAPS, ids=[s[-1] for s in SWAPS])
def test_each_fault_from_the_first_swap_on_puts_every_file_back(host, tool, which, nth, action, step):
    match = str(staged(host, which)) if isinstance(which, int) else which
    result = host.run(host.script(), env=host.fault(tool, match, nth, action))
    assert result.returncode != 0 and host.calls(tool) >= nth, result.stderr
    assert RESTORED in result.stderr
    assert ("interrupted by SIGTERM" in result.stderr) == action.startswith("term")
    host.assert_all_old()
    assert host.reloaded() == []  # no reload had started: the daemon never saw the new files
    assert not (host.state / "journal").exists()
    # The new files are staged again, so the same delivery can simply be run again.
    assert host.staged_all_there()
    again = host.run(host.script())
    assert again.returncode == 0, again.stderr
    host.assert_all_new()


@pytest.mark.parametrize("shell", ["sh", "bash"])
@pytest.mark.parametrize("j", range(2))
@pytest.mark.parametrize("how", ["fails", "term"])
def test_a_reload_that_fails_or_is_interrupted_puts_back_and_reloads_the_old_files(host, shell, j, how):
    # Each reload command logs the a.conf it sees; command j then fails (or signals), once only: with the
    # old files back it works again.
    ending = "exit 7" if how == "fails" else 'kill -TERM "$PPID"; sleep 1'
    once = f'cat "$1" >> "$2"; [ -z "$3" ] || [ -e "$3" ] || {{ : > "$3"; {ending}; }}'
    reload = [["sh", "-c", once, "reload", host.a.path, str(host.log), str(host.root / "once") if k == j else ""]
              for k in range(2)]
    result = host.run(host.script(reload=reload), shell=shell)
    assert result.returncode != 0 and RESTORED in result.stderr
    assert "interrupted by SIGTERM while the reload (sh -c" in result.stderr if how == "term" else (
        "the reload (sh -c" in result.stderr and "failed (exit status 7)" in result.stderr)
    host.assert_all_old()
    assert host.reloaded() == ["a new"] * (j + 1) + ["a old", "a old"]  # then the old configuration, whole
    assert host.staged_all_there()


def test_a_put_back_that_fails_keeps_the_journal_for_the_next_delivery(host):
    env = {**host.fault("mv", str(staged(host, 1)), 1, "fail"), **host.fault("cp", ".isp-old", 1, "fail")}
    result = host.run(host.script(), env=env)
    assert result.returncode != 0 and "putting the previous files back FAILED" in result.stderr
    assert f"could not put back {host.a.path}" in result.stderr and (host.state / "journal").exists()
    host.assert_each_old_or_new()
    # The next delivery to this host (here one whose check fails) finishes the put-back first.
    retry = host.run(host.script(checks=[["false"]]))
    assert "a delivery to this host was interrupted; putting its files back first" in retry.stderr
    assert "validation failed" in retry.stderr
    host.assert_all_old()
    assert not (host.state / "journal").exists()


# -- SIGKILL cannot be trapped: each file is whole, and the journal puts them back -------------------


KILLS = [(i, action) for i in range(3) for action in ("kill", "kill-after")] + [("reload", "kill")]


@pytest.mark.parametrize(("which", "action"), KILLS, ids=[f"{w}-{a}" for w, a in KILLS])
def test_sigkill_at_each_swap_leaves_whole_files_and_the_next_delivery_puts_them_back(host, which, action):
    if which == "reload":
        once = 'cat "$1" >> "$2"; [ -e "$3" ] || { : > "$3"; kill -KILL "$PPID"; }'  # not again in the put-back
        reload = [["sh", "-c", once, "reload", host.a.path, str(host.log), str(host.root / "killed")]]
        result = host.run(host.script(reload=reload))
    else:
        result = host.run(host.script(), env=host.fault("mv", str(staged(host, which)), 1, action))
    assert result.returncode == -9
    host.assert_each_old_or_new()
    assert (host.state / "journal").exists()
    recovery = host.run(host.script(checks=[["false"]]))
    assert "interrupted; putting its files back first" in recovery.stderr and "validation failed" in recovery.stderr
    host.assert_all_old()
    assert not (host.state / "journal").exists()
    if which == "reload":
        assert host.reloaded()[-2:] == ["a new", "a old"]  # killed mid-reload: the old one reloaded
    again = host.run(host.script())
    assert again.returncode == 0, again.stderr
    host.assert_all_new()


# -- two deliveries to one host ----------------------------------------------------------------------


def test_two_deliveries_to_one_host_never_interleave(host):
    started, release = host.root / "started", host.root / "release"
    holding = [["sh", "-c", ': > "$1"; while [ ! -e "$2" ]; do sleep 0.05; done', "hold", str(started), str(release)]]
    first = subprocess.Popen(["sh", "-c", host.script(reload=holding)], stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(200):
            if started.exists():
                break
            time.sleep(0.05)
        assert started.exists()  # the first delivery has swapped its files in and is reloading
        second_files = [ManagedFile(f.path, f.content.replace("new", "newer"), f.mode) for f in host.files]
        host.stage(second_files)
        second = subprocess.Popen(["sh", "-c", host.script(files=second_files, checks=[], lock_wait=30)],
                                  stderr=subprocess.PIPE, text=True)
        time.sleep(1)
        assert second.poll() is None, "the second delivery must wait for the first"
        host.assert_all_new()  # nothing of the second one yet, and its staged files are still there
        assert all(Path(staging_path(f.path)).read_text() == f.content for f in second_files)
        impatient = host.run(host.script(files=second_files, checks=[], lock_wait=1))
        assert impatient.returncode != 0 and "another delivery to this host holds" in impatient.stderr
        release.touch()
        assert first.wait(timeout=30) == 0, first.stderr.read()
        assert second.wait(timeout=30) == 0, second.stderr.read()
    finally:
        for process in (first, *([second] if "second" in locals() else [])):
            if process.poll() is None:
                process.kill()
    assert Path(host.a.path).read_text() == "a newer\n"
    assert host.reloaded() == ["a newer", "reloaded"]


# -- values stay words ---------------------------------------------------------------------------------


def test_hostile_paths_and_arguments_stay_single_words(tmp_path):
    evil_dir = tmp_path / "a b;touch pwned$(id)"
    evil_dir.mkdir()
    target = evil_dir / "x.conf"
    legacy = Path(f"{target}.20240101T000000Z.bak")  # the previous script's dated copy: moved with the others
    legacy.write_text("older\n")
    host = Host(tmp_path, [ManagedFile(str(target), "content\n")])
    host.stage()
    checks = [["test", "-f", staging_path(str(target))], ["test", "x;touch pwned2", "!=", "$(touch pwned3)"]]
    result = host.run(host.script(checks=checks, reload=[["echo", "`touch pwned4`", "|", "touch pwned5"]]))
    assert result.returncode == 0, result.stderr
    assert target.read_text() == "content\n" and not legacy.exists()
    assert [(p.suffix, p.read_text()) for p in host.backups(host.files[0])] == [(".bak", "older\n"), (".none", "")]
    assert not list(tmp_path.glob("pwned*"))


def test_paths_the_script_could_not_place_are_refused():
    for path in ("relative.conf", "/etc/../etc/x", "/etc/isp-staging", "/"):
        with pytest.raises(ValueError):
            install_script([ManagedFile(path, "x")], [], [])
    with pytest.raises(ValueError, match="twice"):
        install_script([ManagedFile("/etc/x", "1"), ManagedFile("/etc/x", "2")], [], [])
    with pytest.raises(ValueError, match="mode"):
        install_script([ManagedFile("/etc/x", "1", mode="0644; rm -rf /")], [], [])
    with pytest.raises(ValueError, match="keep at least one"):
        install_script([ManagedFile("/etc/x", "1")], [], [], keep=0)


# -- what the policy pack reads in these scripts ---------------------------------------------------------


def test_the_policy_pack_reads_each_real_file_as_its_staged_copy_and_nothing_else():
    """The pack judges a host's files by following the install script's text (tree-sitter-bash): each real
    path must come in one step from its staged copy, with no note and no other file a daemon could read."""
    pack = str(Path(__file__).resolve().parents[2] / "policies")
    if pack not in sys.path:
        sys.path.insert(0, pack)
    from readers import shellscript

    files = [ManagedFile("/etc/bind/named.conf", "options { };\n"),
             ManagedFile("/etc/bind/zones/db.isp.test", "zone\n", mode="0640", owner="bind:bind")]
    script = install_script(files, [["named-checkconf", staging_path("/etc/bind/named.conf")]],
                            [["systemctl", "reload", "named"]])
    for shell in ("sh", "bash"):
        read = shellscript.read_script(script, shell=shell, environment={"ISP_HOST": "ns1"})
        assert read.notes == ()
        outside = [w for w in read.writes if not w.path.startswith("/var/lib/isp-delivery/")]
        # The swap's scratch copy stays in the owner-only staging directory, where no daemon looks.
        scratch = [(w.path, w.copied_from) for w in outside if f"/{STAGING_DIRNAME}/" in w.path]
        assert scratch == [(staging_path(f.path) + ".isp-swap", staging_path(f.path)) for f in files]
        delivered = [(w.path, w.copied_from, w.conditional) for w in outside if f"/{STAGING_DIRNAME}/" not in w.path]
        assert delivered == [(f.path, staging_path(f.path), False) for f in files]
        assert [(s.unit, s.action) for s in read.services] == [("named", "reload")]
        staging = shellscript.read_script(staging_script(["/etc/bind/isp-staging"]), shell=shell)
        assert staging.writes == () and staging.notes == ()


# -- persistent staged copies: a delivery re-stages only what changed --------------------------------------


def test_a_delivery_that_restaged_one_file_installs_every_file(host):
    """Only b.zone changed: only its copy runs again; a.conf and c.key come from the copies the first
    delivery left, and every file is installed as this delivery means it."""
    assert host.run(host.script()).returncode == 0
    second = [host.files[0], ManagedFile(host.files[1].path, "b newer\n", "0640"), host.files[2]]
    host.stage(second[1:2])
    result = host.run(host.script(files=second))
    assert result.returncode == 0, result.stderr
    assert [Path(f.path).read_text() for f in second] == ["a new\n", "b newer\n", "c secret\n"]
    assert [Path(f.path).stat().st_mode & 0o777 for f in second] == [0o644, 0o640, 0o600]
    assert [Path(staging_path(f.path)).read_text() for f in second] == ["a new\n", "b newer\n", "c secret\n"]
    assert [p.read_text() for p in host.backups(second[1])] == ["b old\n", "b new\n"]


def test_a_failed_check_after_a_delivery_leaves_the_installed_and_the_staged_files(host):
    assert host.run(host.script()).returncode == 0
    host.old = host.snapshot()
    second = [ManagedFile(host.a.path, "a broken\n", "0644"), *host.files[1:]]
    host.stage(second[:1])
    result = host.run(host.script(files=second))  # the grep for "new" fails on a.conf's staged copy
    assert result.returncode != 0 and "no file of this delivery was changed" in result.stderr
    host.assert_all_old()
    assert [Path(staging_path(f.path)).read_text() for f in second] == ["a broken\n", "b new\n", "c secret\n"]


def test_a_swap_never_writes_through_a_leftover_swap_copy(host):
    """A swap copy a killed delivery left (here a symlink to a file it must not touch) is replaced, never
    written through."""
    victim = host.root / "victim"
    victim.write_text("untouched\n")
    Path(f"{staged(host, 0)}.isp-swap").symlink_to(victim)
    result = host.run(host.script())
    assert result.returncode == 0, result.stderr
    host.assert_all_new()
    assert victim.read_text() == "untouched\n" and not Path(host.a.path).is_symlink()


def test_a_new_copy_into_the_staged_path_does_not_touch_the_live_file(host):
    """The installed file is never the staged file (no rename of it, no hard link): rewriting the staged
    copy in place, as an SFTP upload does, leaves the live file alone."""
    assert host.run(host.script()).returncode == 0
    with open(staged(host, 0), "r+") as upload:  # truncate and write in place, as SFTP does
        upload.truncate(0)
        upload.write("half")
    assert Path(host.a.path).read_text() == "a new\n"
    assert Path(host.a.path).stat().st_ino != staged(host, 0).stat().st_ino


# -- the resources: nothing protected is replaced by a content change ------------------------------------


def _registered(mocks, files: list[ManagedFile], reload: list[list[str]], protect: bool = True) -> dict[str, dict]:
    mocks.resources.clear()

    @pulumi.runtime.test
    def run():
        connection = HostConnection(host="ns1.example.net", user="deploy", private_key=pulumi.Output.secret("KEY"))
        ServiceConfig("ns1-bind", ServiceConfigArgs(connection=connection, files=files, reload=reload,
                                                    protect=protect))
        return pulumi.Output.from_input(1)

    run()
    # An asset compares by identity: keep its text.
    return {r.name: {k: v.text if isinstance(v, pulumi.StringAsset) else v for k, v in r.inputs.items()}
            for r in mocks.resources if r.type.startswith("command:remote:")}


def test_a_content_change_updates_the_protected_copy_in_place_and_reruns_only_the_install(mocks):
    """pulumi-command replaces a resource whose `triggers` change, and the engine refuses to replace a
    protected one: a protected copy has no triggers; its new `source` is an update in place."""
    files = [ManagedFile("/etc/bind/named.conf", "options { };\n"), ManagedFile("/etc/bind/zones/db.x", "zone\n")]
    first = _registered(mocks, files, [["rndc", "reload"]])
    protected = {r.name for r in mocks.resources if r.protect}
    assert protected == {"ns1-bind-named.conf", "ns1-bind-db.x"}
    assert all("triggers" not in first[name] for name in protected)
    dirs = ["/etc/bind/isp-staging", "/etc/bind/zones/isp-staging"]
    assert first["ns1-bind-staging"]["create"] == staging_script(dirs) and first["ns1-bind-staging"]["triggers"] == dirs
    changed = _registered(mocks, [files[0], ManagedFile("/etc/bind/zones/db.x", "zone 2\n")], [["rndc", "reload"]])
    assert changed["ns1-bind-named.conf"] == first["ns1-bind-named.conf"]  # not copied again
    assert changed["ns1-bind-db.x"]["source"] != first["ns1-bind-db.x"]["source"]
    assert changed["ns1-bind-staging"] == first["ns1-bind-staging"]
    assert changed["ns1-bind-install"]["triggers"] != first["ns1-bind-install"]["triggers"]
    reloaded = _registered(mocks, files, [["rndc", "reconfig"]])
    assert reloaded["ns1-bind-install"]["update"] != first["ns1-bind-install"]["update"]
    assert {k: v for k, v in reloaded.items() if k != "ns1-bind-install"} == (
        {k: v for k, v in first.items() if k != "ns1-bind-install"})


def test_an_unchanged_zone_copy_from_an_earlier_delivery_keeps_its_serial(tmp_path):
    """Deliver named.conf and a zone; then only a changed named.conf is copied again: the zone's staged copy
    still carries the serial the first delivery stamped into it, and it keeps that serial."""
    require_tool("named-checkzone")
    zone = render_zone_file(origin="example.net", primary_ns="ns1.example.org", hostmaster="hostmaster@example.net",
                            nameservers=["ns1.example.org"], records=[ZoneRecord("www", "A", "192.0.2.1")])
    etc = tmp_path / "etc" / "bind"
    (etc / "zones").mkdir(parents=True)
    conf = ManagedFile(str(etc / "named.conf"), "options { };\n")
    db = ManagedFile(str(etc / "zones" / "db.example.net"), zone, zone="example.net")
    host = Host(tmp_path, [conf, db])
    host.stage()
    first = host.run(install_script([conf, db], [["named-checkzone", "-q", "example.net", staging_path(db.path)]], [],
                                    state_dir=str(host.state)))
    assert first.returncode == 0, first.stderr
    installed = Path(db.path).read_bytes()
    assert b"( 0000000000 " not in installed and Path(staging_path(db.path)).read_bytes() == installed
    changed = ManagedFile(conf.path, "options { directory \"/var/cache/bind\"; };\n")
    host.stage([changed])
    second = host.run(install_script([changed, db], [["named-checkzone", "-q", "example.net", staging_path(db.path)]],
                                     [], state_dir=str(host.state)))
    assert second.returncode == 0, second.stderr
    assert "zone example.net: unchanged, SOA serial" in second.stdout
    assert Path(db.path).read_bytes() == installed and Path(conf.path).read_text() == changed.content


# -- owners: a daemon that drops privileges owns its key ---------------------------------------------------


def _owned(host: Host, owners: dict[int, str]) -> None:
    """Give files of the host's delivery an owner (user:group); the staged copies are unchanged."""
    host.files = [dataclasses.replace(f, owner=owners.get(i, "")) for i, f in enumerate(host.files)]


@pytest.mark.skipif(not ROOT, reason="giving a file to another user needs root")
def test_an_owner_is_given_before_the_rename_and_a_file_without_one_stays_the_deploying_users(host):
    _owned(host, {2: "nobody:nogroup"})
    result = host.run(host.script())
    assert result.returncode == 0, result.stderr
    host.assert_all_new()
    key = Path(host.files[2].path).stat()
    assert (key.st_uid, key.st_gid, key.st_mode & 0o777) == (NOBODY, grp.getgrnam("nogroup").gr_gid, 0o600)
    conf = Path(host.a.path).stat()  # a.conf was nobody's before: a file without an owner becomes ours
    assert (conf.st_uid, conf.st_gid) == (0, 0)
    # The staged copy stays the deploying user's (owner-only staging directory).
    assert staged(host, 2).stat().st_uid == 0


@pytest.mark.skipif(not ROOT, reason="giving a file to another user needs root")
@pytest.mark.parametrize("where", ["chown", "reload"])
def test_a_failure_after_an_owner_was_given_puts_back_the_old_owner_with_the_old_bytes(host, where):
    _owned(host, {0: "root:root", 2: "nobody:nogroup"})  # a.conf was nobody's: its new version is root's
    if where == "chown":
        env = host.fault("chown", str(staged(host, 2)), 1, "fail")
        result = host.run(host.script(), env=env)
    else:
        result = host.run(host.script(reload=[["false"]]))
    assert result.returncode != 0 and RESTORED in result.stderr, result.stderr
    host.assert_all_old()  # bytes, mode and owner (a.conf back to nobody:nobody)
    assert Path(host.a.path).stat().st_uid == NOBODY


@pytest.mark.parametrize("owner", ["root", "root:root:x", "root; rm -rf /", "Root:root", "root:", ":root",
                                   "root:root\n", "1000:1000"])
def test_an_owner_that_is_not_user_colon_group_is_refused(owner):
    with pytest.raises(ValueError, match="owner must be user:group"):
        install_script([ManagedFile("/etc/x", "1", owner=owner)], [], [])
