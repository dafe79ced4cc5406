"""The backup job: bash and systemd check what we render, and the script runs against a real
PostgreSQL cluster made for the test (unix socket in a temp dir, no TCP), then one database
is restored from its own file alone.

The job runs where the renderer lets a backup directory live (never /tmp): in a private mount
namespace, a throwaway directory is bind-mounted on /mnt, so the job's own paths are
/mnt/<name> and the machine's /mnt is never touched. That needs root (as `make test` runs)."""

from __future__ import annotations

import gzip
import hashlib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.render.backup import render_backup_script, render_backup_service, render_backup_timer
from tests.components.render.conftest import HOSTILE_VALUES, assert_rejected
from tests.conftest import require_tool, run_tool

PG = dict(engine="postgresql", backup_dir="/var/backups/db", retention_days=14)
# Three customer databases; one name holds a quote, a space and '=' (a conninfo trap).
ODD = "cust c='x' y"
CUSTOMERS = ("cust_a", "cust_b", ODD)


def _label(name: str) -> str:
    plain = name[:1].isalnum() and all(c.isalnum() or c in "_.-" for c in name)
    return name if plain else "_x" + name.encode().hex()


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_bash_accepts_the_script(tmp_path, engine):
    script = tmp_path / "backup"
    script.write_text(render_backup_script(**{**PG, "engine": engine}))
    result = run_tool(require_tool("bash"), "-n", str(script))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("engine", ["postgresql", "mariadb"])
def test_systemd_accepts_the_units(tmp_path, engine):
    tool = require_tool("systemd-analyze")
    script = tmp_path / "isp-db-backup"
    script.write_text(render_backup_script(**{**PG, "engine": engine}))
    script.chmod(0o755)
    service, timer = tmp_path / "isp-db-backup.service", tmp_path / "isp-db-backup.timer"
    service.write_text(render_backup_service(engine=engine, backup_dir="/var/backups/db", script_path=str(script)))
    timer.write_text(render_backup_timer(schedule="*-*-* 02:30:00"))
    result = run_tool(tool, "verify", str(service), str(timer))
    assert result.returncode == 0, result.stderr
    # Warnings (unknown keys, obsolete settings) do not fail verify; none may be about our units.
    assert str(tmp_path) not in result.stderr and "isp-db-backup" not in result.stderr, result.stderr


@pytest.mark.parametrize("schedule", ["*-*-* 02:30:00", "daily", "Mon..Fri 01:15", "*-*-* 00/6:00:00", "Sun *-*-1..7"])
def test_systemd_understands_the_schedules_we_accept(schedule):
    render_backup_timer(schedule=schedule)
    result = run_tool(require_tool("systemd-analyze"), "calendar", schedule)
    assert result.returncode == 0, result.stderr


def test_service_runs_as_the_database_superuser():
    pg = render_backup_service(engine="postgresql", backup_dir="/srv/backup")
    assert "User=postgres\n" in pg and "After=postgresql.service\n" in pg
    # The directory is prepared by the script itself (as root), never by `install -d`, which re-owns and
    # re-modes a directory that exists.
    assert "ExecStartPre=+/usr/local/sbin/isp-db-backup --prepare\n" in pg and "install -d" not in pg
    assert "User=root\n" in render_backup_service(engine="mariadb", backup_dir="/srv/backup")


# Where a root job may not take a directory over, as an operator might write it.
MISPLACED = ["/", "/etc", "/var", "/usr", "/var/lib", "/var/log", "/var/backups", "/home", "/root", "/boot", "/opt",
             "/srv", "/lib64", "/usr/local", "/etc/postgresql", "/var/lib/postgresql", "/var/lib/mysql/backups",
             "/tmp/db", "/var/tmp/db", "/dev/shm/db", "/run/db", "/home/alice/dumps", "/root/dumps",
             "/var/www/html/dumps", "/srv/www/dumps", "/proc/1", "/sys/fs", "/var/cache/dumps", "/bin/db",
             "/var/backups/./db", "/var/backups/db/.", "/a/" + "b" * 200]


def test_hostile_values_are_rejected():
    assert_rejected(render_backup_script, PG, "backup_dir")
    assert_rejected(render_backup_script, PG, "engine", ["mysql", "postgresql\n", "", None])
    assert_rejected(render_backup_script, PG, "retention_days", [0, -1, 3651, "14", True, None])
    assert_rejected(render_backup_script, PG, "backup_dir",
                    ["/", "relative/dir", "/var/backups/db/", "/a//b", "/a/../b", *MISPLACED])
    assert_rejected(render_backup_service, {"engine": "postgresql", "backup_dir": "/b"}, "backup_dir", MISPLACED)
    for fine in ("/var/backups/db", "/srv/backups/db", "/mnt/backup/db", "/backup", "/data/dumps"):
        assert f"backup_dir='{fine}'" in render_backup_script(**{**PG, "backup_dir": fine})
    assert_rejected(render_backup_timer, {"schedule": "daily"}, "schedule",
                    [v for v in HOSTILE_VALUES if v != "a b"] + ["daily\nExecStart=/bin/sh", "%H", " daily"])
    assert_rejected(render_backup_service, {"engine": "postgresql", "backup_dir": "/b"}, "script_path")


def test_the_script_never_names_a_database():
    """Databases are found at run time: nothing in the script lists them."""
    for engine in ("postgresql", "mariadb"):
        text = render_backup_script(**{**PG, "engine": engine})
        assert "--all-databases" not in text and " -A " not in text
        assert "pg_dumpall --globals-only" in text if engine == "postgresql" else "pg_dumpall" not in text


# ---------------------------------------------------------------------------------------
# Where the job runs: a private /mnt


class Mnt:
    """A throwaway directory that commands run through `argv` see at /mnt (private mount namespace)."""

    def __init__(self, base: Path) -> None:
        self.base = base

    def argv(self, *argv: str) -> list[str]:
        return [require_tool("unshare"), "--mount", "--propagation", "private", "--", "sh", "-c",
                'mount --bind "$0" /mnt && exec "$@"', str(self.base), *argv]

    def outside(self, inside: str) -> Path:
        """Where the tests read what the job wrote at `inside` (a path under /mnt)."""
        return self.base / inside.removeprefix("/mnt/")


@pytest.fixture
def mnt() -> Iterator[Mnt]:
    if os.geteuid() != 0 or not Path("/mnt").is_dir():
        pytest.skip("the job's directory rules need root and /mnt (a private mount namespace)")
    # Under /tmp, but seen at /mnt: every directory above the job's is root's, mode 0755.
    base = Path(tempfile.mkdtemp(prefix="isp-backup-", dir="/tmp"))
    base.chmod(0o755)
    try:
        yield Mnt(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _own(path: Path, user: str, mode: int = 0o700) -> Path:
    shutil.chown(path, user, user)
    path.chmod(mode)
    return path


def _made(path: Path, user: str = "root", mode: int = 0o755, text: str | None = None) -> Path:
    """A new directory (or, with `text`, file) of `user` with `mode`."""
    if text is None:
        path.mkdir()
    else:
        path.write_text(text)
    return _own(path, user, mode)


# ---------------------------------------------------------------------------------------
# A throwaway PostgreSQL cluster


def _pg_bin() -> Path:
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    return versions[-1].parent


class Cluster:
    def __init__(self, root: Path, bin_dir: Path, user: str | None) -> None:
        self.root, self.bin_dir, self.user = root, bin_dir, user
        self.env = {**os.environ, "PGHOST": str(root), "PGPORT": "5432", "PGUSER": "postgres",
                    "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}

    def argv(self, *argv: str) -> list[str]:
        # initdb refuses root; the job itself runs as postgres too (User=postgres).
        return ["runuser", "-u", self.user, "--", *argv] if self.user else list(argv)

    def run(self, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        result = subprocess.run(self.argv(*argv), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"{argv} failed: {result.stdout}{result.stderr}")
        return result

    def sql(self, sql: str, db: str = "postgres") -> str:
        return self.run("psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "--dbname", f"dbname='{_q(db)}'",
                        "-c", sql).stdout.strip()

    def popen(self, *argv: str) -> subprocess.Popen:
        return subprocess.Popen(self.argv(*argv), env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _q(name: str) -> str:
    return name.replace("\\", "\\\\").replace("'", "\\'")


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    bin_dir = _pg_bin()
    if os.geteuid() != 0:
        pytest.skip("the job runs as postgres in a private mount namespace: needs root")
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root needs the postgres user to own the cluster")
    user = "postgres"
    # Not under pytest's tmp_path: its parents are private to root, and postgres must enter.
    root = Path(tempfile.mkdtemp(prefix="isp-pg-", dir="/tmp"))
    shutil.chown(root, user)
    pg = Cluster(root, bin_dir, user)
    data = root / "data"
    started = False
    try:
        pg.run(str(bin_dir / "initdb"), "--no-sync", "-A", "trust", "-U", "postgres", "-D", str(data), timeout=60)
        options = f"-c listen_addresses='' -k {root} -c fsync=off -c full_page_writes=off"
        pg.run(str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        started = True
        pg.sql("CREATE ROLE app_owner LOGIN")
        for number, name in enumerate(CUSTOMERS, start=1):
            pg.sql(f"CREATE DATABASE {_ident(name)} OWNER app_owner")
            pg.sql(f"CREATE TABLE mailbox (id int PRIMARY KEY, owner text); "
                   f"INSERT INTO mailbox SELECT g, 'customer-{number}-' || g FROM generate_series(1, {number * 10}) g",
                   db=name)
        yield pg
    finally:
        if started:
            pg.run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(root, ignore_errors=True)


def _content(pg: Cluster, db: str) -> str:
    return pg.sql("SELECT count(*) || ':' || md5(string_agg(id || owner, ',' ORDER BY id)) FROM mailbox", db=db)


def _backup_dir(mnt: Mnt, name: str) -> Path:
    """The job's directory as `--prepare` leaves it: postgres's, mode 0700."""
    return _made(mnt.base / name, "postgres", 0o700)


def _run_job(pg: Cluster, mnt: Mnt, backup_dir: Path, **render) -> subprocess.CompletedProcess:
    script = pg.root / f"backup-{backup_dir.name}.sh"
    script.write_text(render_backup_script(engine="postgresql", backup_dir=f"/mnt/{backup_dir.name}",
                                           retention_days=render.pop("retention_days", 14), **render))
    script.chmod(0o755)
    argv = mnt.argv("runuser", "-u", "postgres", "--", str(script))
    return subprocess.run(argv, env=pg.env, capture_output=True, text=True, timeout=60)


def _old_run(backup_dir: Path, name: str, age_days: float, files: tuple[str, ...] | None = None) -> Path:
    """A run directory `age_days` old holding `files` (default: what the job writes in a run)."""
    old = _made(backup_dir / name, "postgres", 0o700)
    stamp = name.lstrip(".").removesuffix(".partial")
    for file in (f"cust_a-{stamp}.dump", f"globals-{stamp}.sql.gz", "SHA256SUMS") if files is None else files:
        _made(old / file, "postgres", 0o600, text="old")
    stamp_time = time.time() - age_days * 86400
    os.utime(old, (stamp_time, stamp_time))
    return old


def _manifest(run_dir: Path) -> dict[str, str]:
    lines = (run_dir / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in lines)}


def _runs(backup_dir: Path, *kept: str) -> list[Path]:
    return [d for d in backup_dir.iterdir() if d.name not in kept]


def test_every_database_to_its_own_file_and_one_restored_alone(cluster, mnt):
    backup_dir = _backup_dir(mnt, "clean")
    expired = _old_run(backup_dir, "20200101T000000Z", 30)
    crashed = _old_run(backup_dir, ".20200103T000000Z.partial", 30, (".databases", "cust_a-20200103T000000Z.dump"))
    recent = _old_run(backup_dir, "20200102T000000Z", 2)
    unrelated = _old_run(backup_dir, "keep-me", 30)
    before = {name: _content(cluster, name) for name in CUSTOMERS}
    result = _run_job(cluster, mnt, backup_dir)
    assert result.returncode == 0, result.stderr

    (run_dir,) = _runs(backup_dir, "20200102T000000Z", "keep-me")
    stamp = run_dir.name
    assert f"backed up to /mnt/clean/{stamp}" in result.stderr
    dumps = {p.name for p in run_dir.glob("*.dump")}
    assert dumps == {f"{_label(name)}-{stamp}.dump" for name in (*CUSTOMERS, "postgres")}
    globals_file = run_dir / f"globals-{stamp}.sql.gz"
    assert "CREATE ROLE app_owner" in gzip.decompress(globals_file.read_bytes()).decode()
    # The manifest covers every file but itself, with the right digests.
    manifest = _manifest(run_dir)
    assert set(manifest) == dumps | {globals_file.name}
    for name, digest in manifest.items():
        assert hashlib.sha256((run_dir / name).read_bytes()).hexdigest() == digest
    assert not any(p.name.startswith(".") for p in run_dir.iterdir())
    # Retention after a clean run: the expired runs go, a recent run and other directories stay.
    assert not expired.exists() and not crashed.exists() and recent.exists() and unrelated.exists()

    # A customer's database lost: restored from its own file alone, the others untouched.
    cluster.sql(f"DROP DATABASE {_ident('cust_b')}")
    cluster.run("pg_restore", "--create", "--exit-on-error", "--dbname=postgres", str(run_dir / f"cust_b-{stamp}.dump"))
    assert {name: _content(cluster, name) for name in CUSTOMERS} == before
    assert before["cust_b"].startswith("20:")


def test_retention_deletes_only_what_the_job_wrote(cluster, mnt):
    backup_dir = _backup_dir(mnt, "retention")
    elsewhere = _made(mnt.base / "elsewhere", "postgres", 0o700)
    _old_run(elsewhere, "precious", 30, ("x-20200101T000000Z.dump",))
    # Old, but only loosely named like a run (the former pattern '[0-9]*T*Z' took them), or a link to one.
    loose = [_old_run(backup_dir, name, 30) for name in ("2020T1Z", "1T-Z", "20200101T000000Z.partial")]
    (backup_dir / "20200104T000000Z").symlink_to(elsewhere / "precious")
    # An expired run holding something the job never writes: only the job's own files go.
    mixed = _old_run(backup_dir, "20200105T000000Z", 30,
                     ("cust_a-20200105T000000Z.dump", "SHA256SUMS", "notes.txt", "cust_a-19990101T000000Z.dump"))
    (mixed / "sub").mkdir()
    (mixed / "link-20200105T000000Z.dump").symlink_to(elsewhere / "precious" / "x-20200101T000000Z.dump")
    month_ago = time.time() - 30 * 86400
    os.utime(mixed, (month_ago, month_ago))
    result = _run_job(cluster, mnt, backup_dir)
    assert result.returncode == 0, result.stderr
    assert all(d.is_dir() and any(d.iterdir()) for d in loose)
    assert (elsewhere / "precious" / "x-20200101T000000Z.dump").read_text() == "old"
    assert (backup_dir / "20200104T000000Z").is_symlink()
    assert sorted(p.name for p in mixed.iterdir()) == ["cust_a-19990101T000000Z.dump", "link-20200105T000000Z.dump",
                                                       "notes.txt", "sub"]
    assert "kept /mnt/retention/20200105T000000Z: it holds files this job did not write" in result.stderr


def test_a_failed_database_fails_the_job_after_all_others_are_tried(cluster, mnt):
    backup_dir = _backup_dir(mnt, "failing")
    expired = _old_run(backup_dir, "20200101T000000Z", 30)
    # A long migration holds cust_b's table: pg_dump gives up on it after its lock timeout.
    holder = cluster.popen("psql", "-X", "-q", "--dbname=cust_b", "-c",
                           "BEGIN; LOCK TABLE mailbox IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);")
    try:
        deadline = time.monotonic() + 15
        query = "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation IS NOT NULL AND granted"
        while cluster.sql(query, db="cust_b") == "0":
            assert time.monotonic() < deadline and holder.poll() is None, "the lock holder did not start"
            time.sleep(0.1)
        result = _run_job(cluster, mnt, backup_dir, lock_wait_timeout_seconds=1)
    finally:
        cluster.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' "
                    "AND pid <> pg_backend_pid()")
        holder.communicate(timeout=15)
    assert result.returncode != 0
    assert "database cust_b: dump failed" in result.stderr
    (run_dir,) = _runs(backup_dir, "20200101T000000Z")
    stamp = run_dir.name
    dumps = {p.name for p in run_dir.glob("*.dump")}
    assert dumps == {f"{_label(name)}-{stamp}.dump" for name in ("cust_a", ODD, "postgres")}
    assert (run_dir / "FAILED").read_text() == "cust_b\n"
    assert set(_manifest(run_dir)) == dumps | {f"globals-{stamp}.sql.gz"}
    # A failing job never prunes: the old backups may be all there is.
    assert expired.exists()


def test_a_new_database_is_in_the_next_run(cluster, mnt):
    cluster.sql("CREATE DATABASE cust_new")
    try:
        backup_dir = _backup_dir(mnt, "new")
        assert _run_job(cluster, mnt, backup_dir).returncode == 0
        (run_dir,) = backup_dir.iterdir()
        assert (run_dir / f"cust_new-{run_dir.name}.dump").is_file()
    finally:
        cluster.sql("DROP DATABASE cust_new")


# ---------------------------------------------------------------------------------------
# The directory: made when missing, never taken over (ExecStartPre=+ ... --prepare, as root)


def _prepare(mnt: Mnt, backup_dir: str, *args: str, engine: str = "postgresql") -> subprocess.CompletedProcess:
    script = mnt.base.parent / f"{mnt.base.name}-job"
    script.write_text(render_backup_script(engine=engine, backup_dir=backup_dir, retention_days=3))
    script.chmod(0o755)
    try:
        return subprocess.run(mnt.argv(str(script), *args), capture_output=True, text=True, timeout=30)
    finally:
        script.unlink()


def _state(path: Path) -> tuple:
    info = path.lstat()
    return info.st_uid, info.st_gid, oct(info.st_mode), sorted(p.name for p in path.iterdir()) if path.is_dir() else ()


def test_prepare_makes_a_missing_directory_for_the_job_user(mnt):
    result = _prepare(mnt, "/mnt/backups/db", "--prepare")
    assert result.returncode == 0, result.stderr
    made, parent = mnt.outside("/mnt/backups/db"), mnt.outside("/mnt/backups")
    assert (pwd.getpwuid(made.stat().st_uid).pw_name, oct(made.stat().st_mode & 0o7777)) == ("postgres", "0o700")
    assert (parent.stat().st_uid, oct(parent.stat().st_mode & 0o7777)) == (0, "0o755")
    again = _prepare(mnt, "/mnt/backups/db", "--prepare")  # its own directory: accepted as it is
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("setup", ["root-0755", "postgres-0755", "link", "dangling-link", "file", "parent-0777",
                                   "parent-link", "parent-postgres"])
def test_prepare_never_takes_a_directory_over(mnt, setup):
    """An existing directory of someone else's (what /etc or /var/lib/postgresql would be) is refused and left
    exactly as it was: never re-owned, re-moded, emptied or followed."""
    precious = mnt.base / "precious"
    precious.mkdir()
    (precious / "data").write_text("keep")
    target = mnt.base / "db"
    if setup in ("root-0755", "postgres-0755"):
        _made(target, setup.split("-")[0], 0o755)
        (target / "data").write_text("keep")
    elif setup in ("link", "dangling-link"):
        target.symlink_to(precious if setup == "link" else mnt.base / "absent")
    elif setup == "file":
        target.write_text("keep")
    elif setup == "parent-0777":
        (mnt.base / "shared").mkdir()
        (mnt.base / "shared").chmod(0o777)
    elif setup == "parent-link":
        (mnt.base / "shared").symlink_to(precious)
    else:
        _made(mnt.base / "shared", "postgres", 0o755)
    inside = "/mnt/shared/db" if setup.startswith("parent") else "/mnt/db"
    watched = [p for p in (mnt.base / "db", mnt.base / "shared", precious) if p.exists() or p.is_symlink()]
    before = [_state(p) for p in watched] + [(precious / "data").read_text()]
    result = _prepare(mnt, inside, "--prepare")
    assert result.returncode == 1, result.stderr
    assert [_state(p) for p in watched] + [(precious / "data").read_text()] == before
    assert not (mnt.base / "shared" / "db").exists() and not (precious / "db").exists()
    assert "isp-db-backup: " in result.stderr and "Traceback" not in result.stderr


def test_the_job_itself_refuses_a_directory_it_did_not_prepare(mnt):
    target = _made(mnt.base / "db", "root", 0o755)
    result = _prepare(mnt, "/mnt/db", engine="mariadb")
    assert result.returncode == 1
    assert "has owner and mode 'root 755', not 'root 700'" in result.stderr
    assert list(target.iterdir()) == []
    assert _prepare(mnt, "/mnt/db", "--prune").returncode == 2


# ---------------------------------------------------------------------------------------
# MariaDB is not installed here: its two clients are replaced by scripts that answer the
# way mysql does (HEX() listing) and record the calls, to check the script's own logic.

FAKE_MYSQL = """#!/bin/bash
printf '%s\\n' $ISP_FAKE_HEX
"""
FAKE_MYSQLDUMP = """#!/bin/bash
db="${@: -1}"
printf '%s\\0' "$@" >>"$ISP_FAKE_LOG"; printf '\\001' >>"$ISP_FAKE_LOG"
[ "$db" = "$ISP_FAKE_FAIL" ] && { echo "mysqldump: Got error: 1044" >&2; exit 2; }
printf -- '-- dump of %s\\n' "$db"
"""


def test_mariadb_script_one_file_per_schema(tmp_path, mnt):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("mysql", FAKE_MYSQL), ("mysqldump", FAKE_MYSQLDUMP)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    schemas = ["mysql", "shop", "line\nbreak", "fails"]
    script = tmp_path / "backup"
    script.write_text(render_backup_script(engine="mariadb", backup_dir="/mnt/b", retention_days=3))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ISP_FAKE_LOG": str(tmp_path / "calls"),
           "ISP_FAKE_HEX": " ".join(s.encode().hex().upper() for s in schemas), "ISP_FAKE_FAIL": "fails"}
    prepared = subprocess.run(mnt.argv("bash", str(script), "--prepare"), capture_output=True, text=True, timeout=30)
    assert prepared.returncode == 0, prepared.stderr
    result = subprocess.run(mnt.argv("bash", str(script)), env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "failed: fails" in result.stderr
    (run_dir,) = mnt.outside("/mnt/b").iterdir()
    files = {p.name: p for p in run_dir.glob("*.sql.gz")}
    assert set(files) == {f"{_label(s)}-{run_dir.name}.sql.gz" for s in schemas[:3]}
    for schema in schemas[:3]:
        text = gzip.decompress(files[f"{_label(schema)}-{run_dir.name}.sql.gz"].read_bytes()).decode()
        assert text == f"-- dump of {schema}\n"
    calls = [call.split("\0")[:-1] for call in (tmp_path / "calls").read_text().split("\x01") if call]
    assert all(call[:6] == ["--single-transaction", "--routines", "--events", "--triggers", "--databases", "--"]
               and len(call) == 7 for call in calls)
    assert [call[-1] for call in calls] == schemas


def test_one_job_per_engine_the_first_keeping_the_one_engine_names():
    from components.render.backup import SCRIPT_PATH, SERVICE_NAME, TIMER_NAME, backup_jobs

    (only,) = backup_jobs(["mariadb"])
    assert (only.script_path, only.service_name, only.timer_name) == (SCRIPT_PATH, SERVICE_NAME, TIMER_NAME)
    assert SCRIPT_PATH == "/usr/local/sbin/isp-db-backup"  # what every one-engine host has always had
    postgresql, mariadb = backup_jobs(["postgresql", "mariadb"])
    assert (postgresql.engine, postgresql.name) == ("postgresql", "isp-db-backup")
    assert (mariadb.engine, mariadb.script_path, mariadb.service_name, mariadb.timer_name) == (
        "mariadb", "/usr/local/sbin/isp-db-backup-mariadb", "isp-db-backup-mariadb.service",
        "isp-db-backup-mariadb.timer")
    assert_rejected(backup_jobs, {}, "engines", values=([], ["mariadb", "mariadb"]))
    assert_rejected(lambda engine: backup_jobs([engine]), {}, "engine", values=("oracle", "postgresql\n"))


def test_a_one_engine_script_is_unchanged_and_a_named_job_logs_its_name():
    default = render_backup_script(**PG)
    assert render_backup_script(**PG, job="isp-db-backup") == default
    assert "printf 'isp-db-backup: %s\\n'" in default
    named = render_backup_script(**{**PG, "engine": "mariadb"}, job="isp-db-backup-mariadb")
    assert "printf 'isp-db-backup-mariadb: %s\\n'" in named and "isp-db-backup:" not in named
    assert_rejected(render_backup_script, PG, "job",
                    values=("x", "isp-db-backup-Maria", "isp-db-backup-a'b", "isp-db-backup\n", 7, *HOSTILE_VALUES))
