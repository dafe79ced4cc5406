"""The backup job: bash and systemd check what we render, and the script runs against a real
PostgreSQL cluster made for the test (unix socket in a temp dir, no TCP), then one database
is restored from its own file alone."""

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
    assert "ExecStartPre=+/usr/bin/install -d -o postgres -g postgres -m 0700 /srv/backup\n" in pg
    assert "User=root\n" in render_backup_service(engine="mariadb", backup_dir="/srv/backup")


def test_hostile_values_are_rejected():
    assert_rejected(render_backup_script, PG, "backup_dir")
    assert_rejected(render_backup_script, PG, "engine", ["mysql", "postgresql\n", "", None])
    assert_rejected(render_backup_script, PG, "retention_days", [0, -1, 3651, "14", True, None])
    assert_rejected(render_backup_script, PG, "backup_dir",
                    ["/", "relative/dir", "/var/backups/db/", "/a//b", "/a/../b"])
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
    user = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root needs the postgres user to own the cluster")
        user = "postgres"
    # Not under pytest's tmp_path: its parents are private to root, and postgres must enter.
    root = Path(tempfile.mkdtemp(prefix="isp-pg-", dir="/tmp"))
    if user:
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


def _backup_dir(pg: Cluster, name: str) -> Path:
    directory = pg.root / name
    directory.mkdir()
    if pg.user:
        shutil.chown(directory, pg.user)
    return directory


def _run_job(pg: Cluster, backup_dir: Path, **render) -> subprocess.CompletedProcess:
    script = pg.root / f"backup-{backup_dir.name}.sh"
    script.write_text(render_backup_script(engine="postgresql", backup_dir=str(backup_dir),
                                           retention_days=render.pop("retention_days", 14), **render))
    script.chmod(0o755)
    return pg.run(str(script), check=False, timeout=60)


def _old_run(backup_dir: Path, name: str, age_days: float, user: str | None) -> Path:
    old = backup_dir / name
    old.mkdir()
    (old / "x-dump").write_text("old")
    stamp = time.time() - age_days * 86400
    os.utime(old, (stamp, stamp))
    if user:
        shutil.chown(old, user)
    return old


def _manifest(run_dir: Path) -> dict[str, str]:
    lines = (run_dir / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in lines)}


def test_every_database_to_its_own_file_and_one_restored_alone(cluster):
    backup_dir = _backup_dir(cluster, "clean")
    expired = _old_run(backup_dir, "20200101T000000Z", 30, cluster.user)
    recent = _old_run(backup_dir, "20200102T000000Z", 2, cluster.user)
    unrelated = _old_run(backup_dir, "keep-me", 30, cluster.user)
    before = {name: _content(cluster, name) for name in CUSTOMERS}
    result = _run_job(cluster, backup_dir)
    assert result.returncode == 0, result.stderr

    (run_dir,) = [d for d in backup_dir.iterdir() if d.name not in ("20200102T000000Z", "keep-me")]
    stamp = run_dir.name
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
    # Retention after a clean run: the expired run goes, a recent run and other directories stay.
    assert not expired.exists() and recent.exists() and unrelated.exists()

    # A customer's database lost: restored from its own file alone, the others untouched.
    cluster.sql(f"DROP DATABASE {_ident('cust_b')}")
    cluster.run("pg_restore", "--create", "--exit-on-error", "--dbname=postgres", str(run_dir / f"cust_b-{stamp}.dump"))
    assert {name: _content(cluster, name) for name in CUSTOMERS} == before
    assert before["cust_b"].startswith("20:")


def test_a_failed_database_fails_the_job_after_all_others_are_tried(cluster):
    backup_dir = _backup_dir(cluster, "failing")
    expired = _old_run(backup_dir, "20200101T000000Z", 30, cluster.user)
    # A long migration holds cust_b's table: pg_dump gives up on it after its lock timeout.
    holder = cluster.popen("psql", "-X", "-q", "--dbname=cust_b", "-c",
                           "BEGIN; LOCK TABLE mailbox IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60);")
    try:
        deadline = time.monotonic() + 15
        query = "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation IS NOT NULL AND granted"
        while cluster.sql(query, db="cust_b") == "0":
            assert time.monotonic() < deadline and holder.poll() is None, "the lock holder did not start"
            time.sleep(0.1)
        result = _run_job(cluster, backup_dir, lock_wait_timeout_seconds=1)
    finally:
        cluster.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%' "
                    "AND pid <> pg_backend_pid()")
        holder.communicate(timeout=15)
    assert result.returncode != 0
    assert "database cust_b: dump failed" in result.stderr
    (run_dir,) = [d for d in backup_dir.iterdir() if d.name != "20200101T000000Z"]
    stamp = run_dir.name
    dumps = {p.name for p in run_dir.glob("*.dump")}
    assert dumps == {f"{_label(name)}-{stamp}.dump" for name in ("cust_a", ODD, "postgres")}
    assert (run_dir / "FAILED").read_text() == "cust_b\n"
    assert set(_manifest(run_dir)) == dumps | {f"globals-{stamp}.sql.gz"}
    # A failing job never prunes: the old backups may be all there is.
    assert expired.exists()


def test_a_new_database_is_in_the_next_run(cluster):
    cluster.sql("CREATE DATABASE cust_new")
    try:
        backup_dir = _backup_dir(cluster, "new")
        assert _run_job(cluster, backup_dir).returncode == 0
        (run_dir,) = backup_dir.iterdir()
        assert (run_dir / f"cust_new-{run_dir.name}.dump").is_file()
    finally:
        cluster.sql("DROP DATABASE cust_new")


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


def test_mariadb_script_one_file_per_schema(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("mysql", FAKE_MYSQL), ("mysqldump", FAKE_MYSQLDUMP)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    schemas = ["mysql", "shop", "line\nbreak", "fails"]
    script = tmp_path / "backup"
    script.write_text(render_backup_script(engine="mariadb", backup_dir=str(tmp_path / "b"), retention_days=3))
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "ISP_FAKE_LOG": str(tmp_path / "calls"),
           "ISP_FAKE_HEX": " ".join(s.encode().hex().upper() for s in schemas), "ISP_FAKE_FAIL": "fails"}
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "failed: fails" in result.stderr
    (run_dir,) = (tmp_path / "b").iterdir()
    files = {p.name: p for p in run_dir.glob("*.sql.gz")}
    assert set(files) == {f"{_label(s)}-{run_dir.name}.sql.gz" for s in schemas[:3]}
    for schema in schemas[:3]:
        text = gzip.decompress(files[f"{_label(schema)}-{run_dir.name}.sql.gz"].read_bytes()).decode()
        assert text == f"-- dump of {schema}\n"
    calls = [call.split("\0")[:-1] for call in (tmp_path / "calls").read_text().split("\x01") if call]
    assert all(call[:6] == ["--single-transaction", "--routines", "--events", "--triggers", "--databases", "--"]
               and len(call) == 7 for call in calls)
    assert [call[-1] for call in calls] == schemas
