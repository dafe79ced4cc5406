"""Lesson 9 by restore: `backup-restore` runs each delivered backup job on the db host and restores one
database from its own file alone, for every engine the host's config lists (PostgreSQL, MariaDB).

For each engine the probe makes three small databases (`lab_alpha`, `lab_beta`, `lab_gamma`, a row
each, a fresh token per run) and runs what the job's timer would: the installed service (which must
be the delivered one) read for its `ExecStartPre` (its `+` means as root) and its `ExecStart`, run
as its `User=`. The job lists the databases itself when it runs, so the probe lists them too, the
way the job does, and requires exactly one dump per database listed (PostgreSQL: `<db>-<time>.dump`
plus `globals-<time>.sql.gz`; MariaDB: `<db>-<time>.sql.gz`, the `mysql` schema among them,
information_schema, performance_schema and sys never), and a `SHA256SUMS` that `sha256sum --check`
accepts for every file. Then `lab_beta` is dropped and restored from its own file alone
(`pg_restore --create -d postgres FILE`, `gunzip -c FILE | mariadb`): its row is back, and the
other two are untouched (same rows; the same database oids, or InnoDB table ids, which are never
reused: neither was recreated). Each evidence line names its engine.

The installed script is not required to be the delivered one: the probe judges what the job does,
so an operator's hand edit that makes a dump all-in-one fails it with the one file named.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.render.backup import MARIADB_SYSTEM_SCHEMAS, BackupJob, backup_jobs
from lab.hosts import host_run
from lab.topology import LabHost

if TYPE_CHECKING:
    from lab.probes import Lab

UNIT_DIR = "/etc/systemd/system"
PROBE_DATABASES = ("lab_alpha", "lab_beta", "lab_gamma")
DROPPED = "lab_beta"
KEPT = tuple(n for n in PROBE_DATABASES if n != DROPPED)


def _mark(ok: bool, text: str) -> str:
    return text + ("" if ok else "  <- unexpected")


def _unit_values(unit: str, key: str) -> list[str]:
    return [m.group(1).strip() for m in re.finditer(rf"^{key}=(.*)$", unit, re.M)]


@dataclass
class JobRun:
    """One run of a delivered job: where it wrote, what it wrote, what it said."""

    ok: bool
    evidence: list[str]
    run_dir: str = ""
    stamp: str = ""
    files: tuple[str, ...] = ()
    sums_ok: bool = False
    sums_text: str = ""


def run_job(lab: Lab, db: LabHost, job: BackupJob) -> JobRun:
    """As systemd runs the job's service: ExecStartPre ('+': as root), then ExecStart as User=."""
    service = f"{UNIT_DIR}/{job.service_name}"
    unit = lab.delivered(db, service)
    installed = lab.root_file(db, service)
    if not unit or not installed.exists() or installed.read_text() != unit:
        return JobRun(False, [f"{service} is not installed on {db.name} as the stack delivers it"])
    exec_start, user = _unit_values(unit, "ExecStart"), _unit_values(unit, "User")
    if len(exec_start) != 1 or len(user) != 1 or not re.fullmatch(r"[a-z_][a-z0-9_-]*", user[0]):
        return JobRun(False, [f"{service}: expected one ExecStart and one User, found {exec_start} and {user}"])
    script = lab.root_file(db, job.script_path)
    as_delivered = script.exists() and script.read_text() == lab.delivered(db, job.script_path)
    digest = hashlib.sha256(script.read_bytes()).hexdigest()[:16] if script.exists() else "missing"
    for pre in _unit_values(unit, "ExecStartPre"):
        host_run(db, pre.removeprefix("+"), timeout=30)
    ran = host_run(db, f"cd / && setpriv --reuid={user[0]} --regid={user[0]} --init-groups -- {exec_start[0]}",
                   timeout=120, check=False)
    said = ran.stderr.strip().splitlines()
    match = re.search(r"backed up to (/\S+)$", said[-1] if said else "")
    evidence = [f"ran {job.service_name}'s ExecStart={exec_start[0]} as {user[0]} (script sha256 {digest}, "
                f"{'as delivered' if as_delivered else 'not the delivered one'}): exit {ran.returncode}, "
                f"{said[-1] if said else '(silent)'}"]
    if ran.returncode != 0 or not match:
        return JobRun(False, [_mark(False, evidence[0]) + " (expected exit 0 naming the run's directory)"])
    run_dir = match.group(1)
    files = tuple(host_run(db, f"ls -1 {run_dir}").stdout.split())
    sums = host_run(db, f"cd {run_dir} && sha256sum --check --strict SHA256SUMS", check=False)
    checked = sums.stdout.splitlines()
    sums_ok = sums.returncode == 0 and all(line.endswith(": OK") for line in checked) and \
        len(checked) == len(files) - 1
    sums_text = (f"sha256sum --check SHA256SUMS: {len(checked)} files OK" if sums.returncode == 0
                 else f"sha256sum --check: {(sums.stdout + sums.stderr).strip()[-200:]}")
    return JobRun(True, evidence, run_dir, run_dir.rsplit("/", 1)[-1], files, sums_ok, sums_text)


# PostgreSQL ----------------------------------------------------------------------------------------


def _psql(db: LabHost, sql: str, database: str = "postgres") -> str:
    """psql as the postgres superuser over the unix socket (peer authentication), rows as text."""
    script = (f"cd / && setpriv --reuid=postgres --regid=postgres --init-groups -- psql --no-psqlrc -X -q -At "
              f"-v ON_ERROR_STOP=1 -d {database} -f -")
    return host_run(db, script, input_text=sql, timeout=30).stdout.strip()


def postgresql_part(lab: Lab, db: LabHost, job: BackupJob) -> tuple[bool, list[str]]:
    token = secrets.token_hex(4)
    for name in PROBE_DATABASES:
        _psql(db, f"DROP DATABASE IF EXISTS {name};\nCREATE DATABASE {name};")
        _psql(db, f"CREATE TABLE probe (note text);\nINSERT INTO probe VALUES ('{token} {name}');", name)
    oids_sql = f"SELECT datname, oid FROM pg_database WHERE datname IN ('{KEPT[0]}', '{KEPT[1]}') ORDER BY datname;"
    oids_before = _psql(db, oids_sql)
    listed = _psql(db, "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate "
                       "ORDER BY datname;").splitlines()
    made = (f"3 databases made, one row each ({', '.join(PROBE_DATABASES)}, token {token}); "
            f"databases on {db.name}: {', '.join(listed)}")
    run = run_job(lab, db, job)
    if not run.ok:
        return False, [made, *run.evidence]
    dumps = sorted(f for f in run.files if f.endswith(".dump"))
    globals_files = [f for f in run.files if f.startswith("globals-") and f.endswith(".sql.gz")]
    expected = sorted(f"{n}-{run.stamp}.dump" for n in listed)
    beta_file = f"{run.run_dir}/{DROPPED}-{run.stamp}.dump"
    _psql(db, f"DROP DATABASE {DROPPED};")
    gone = _psql(db, f"SELECT count(*) FROM pg_database WHERE datname = '{DROPPED}';")
    restore = host_run(db, f"cd / && setpriv --reuid=postgres --regid=postgres --init-groups -- "
                           f"pg_restore --create --exit-on-error -d postgres {beta_file}", timeout=60, check=False)
    beta_row = _psql(db, "SELECT note FROM probe;", DROPPED) if restore.returncode == 0 else ""
    others = {n: _psql(db, "SELECT note FROM probe;", n) for n in KEPT}
    oids_after = _psql(db, oids_sql)
    checks = [
        (dumps == expected and all(f"{n}-{run.stamp}.dump" in dumps for n in PROBE_DATABASES),
         f"{run.run_dir}: {len(dumps)} dump files, one per database listed ({', '.join(dumps) or 'none'})"),
        (len(globals_files) == 1, f"globals (roles, tablespaces): {', '.join(globals_files) or 'none'}"),
        (run.sums_ok, run.sums_text),
        (gone == "0", f"DROP DATABASE {DROPPED}: {'gone' if gone == '0' else 'still there'}"),
        (restore.returncode == 0 and beta_row == f"{token} {DROPPED}",
         f"pg_restore --create -d postgres {beta_file.rsplit('/', 1)[-1]} (that file alone): exit "
         f"{restore.returncode}; {DROPPED}'s row: {beta_row!r}"
         + (f" {restore.stderr.strip()[-160:]}" if restore.returncode else "")),
        (all(others[n] == f"{token} {n}" for n in KEPT) and oids_before == oids_after and bool(oids_before),
         "untouched: " + ", ".join(f"{n} row {others[n]!r}" for n in KEPT)
         + f"; oids {oids_before.replace(chr(10), ', ')} before, {oids_after.replace(chr(10), ', ')} after"),
    ]
    return all(ok for ok, _ in checks), [made, *run.evidence, *(_mark(ok, text) for ok, text in checks)]


# MariaDB -------------------------------------------------------------------------------------------


def _mariadb(db: LabHost, sql: str, *, check: bool = True) -> str:
    """The mariadb client as root over the unix socket (Debian's unix_socket authentication), rows as text."""
    return host_run(db, "mariadb --batch --skip-column-names", input_text=sql, timeout=30, check=check).stdout.strip()


def _table_ids(db: LabHost) -> str:
    """InnoDB's id of each kept database's table: ids are never reused, so a database dropped and made again
    (or restored) shows a new one, as PostgreSQL's oids do."""
    names = ", ".join(f"'{n}/probe'" for n in KEPT)
    rows = _mariadb(db, f"SELECT NAME, TABLE_ID FROM information_schema.INNODB_SYS_TABLES WHERE NAME IN ({names}) "
                        "ORDER BY NAME;", check=False)
    return ", ".join(line.replace("\t", " ") for line in rows.splitlines())


def mariadb_part(lab: Lab, db: LabHost, job: BackupJob) -> tuple[bool, list[str]]:
    token = secrets.token_hex(4)
    _mariadb(db, "".join(f"DROP DATABASE IF EXISTS {n};\nCREATE DATABASE {n};\nCREATE TABLE {n}.probe (note text);\n"
                         f"INSERT INTO {n}.probe VALUES ('{token} {n}');\n" for n in PROBE_DATABASES))
    ids_before = _table_ids(db)
    system = ", ".join(f"'{s}'" for s in MARIADB_SYSTEM_SCHEMAS)
    listed = _mariadb(db, f"SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ({system}) "
                          "ORDER BY SCHEMA_NAME;").splitlines()
    made = (f"3 databases made, one row each ({', '.join(PROBE_DATABASES)}, token {token}); "
            f"databases on {db.name} (without {', '.join(MARIADB_SYSTEM_SCHEMAS)}): {', '.join(listed)}")
    run = run_job(lab, db, job)
    if not run.ok:
        return False, [made, *run.evidence]
    dumps = sorted(f for f in run.files if f.endswith(".sql.gz"))
    expected = sorted(f"{n}-{run.stamp}.sql.gz" for n in listed)
    # Each file recreates exactly one database: its own CREATE DATABASE and nothing else's.
    creates = host_run(db, f"cd {run.run_dir} && for f in *.sql.gz; do printf '%s %s\\n' \"$f\" "
                           "\"$(gunzip -c -- \"$f\" | grep -c '^CREATE DATABASE')\"; done", check=False).stdout
    one_each = bool(dumps) and all(line.endswith(" 1") for line in creates.splitlines())
    beta_file = f"{run.run_dir}/{DROPPED}-{run.stamp}.sql.gz"
    _mariadb(db, f"DROP DATABASE {DROPPED};")
    gone = _mariadb(db, f"SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{DROPPED}';")
    # pipefail: a missing or broken file fails the restore, not only the client.
    restore = host_run(db, f"bash -o pipefail -c 'gunzip -c {beta_file} | mariadb'", timeout=60, check=False)
    rows = {n: _mariadb(db, f"SELECT note FROM {n}.probe;", check=False) for n in PROBE_DATABASES}
    ids_after = _table_ids(db)
    checks = [
        (dumps == expected and all(f"{n}-{run.stamp}.sql.gz" in dumps for n in (*PROBE_DATABASES, "mysql")),
         f"{run.run_dir}: {len(dumps)} dump files, one per database listed ({', '.join(dumps) or 'none'})"),
        (one_each, "CREATE DATABASE statements per file: " + (", ".join(
            f"{line.split()[0].removesuffix(f'-{run.stamp}.sql.gz')} {line.split()[-1]}"
            for line in creates.splitlines()) or "none")),
        (run.sums_ok, run.sums_text),
        (gone == "0", f"DROP DATABASE {DROPPED}: {'gone' if gone == '0' else 'still there'}"),
        (restore.returncode == 0 and rows[DROPPED] == f"{token} {DROPPED}",
         f"gunzip -c {beta_file.rsplit('/', 1)[-1]} | mariadb (that file alone): exit {restore.returncode}; "
         f"{DROPPED}'s row: {rows[DROPPED]!r}" + (f" {restore.stderr.strip()[-160:]}" if restore.returncode else "")),
        (all(rows[n] == f"{token} {n}" for n in KEPT) and ids_before == ids_after and ids_before.count("/") == 2,
         "untouched: " + ", ".join(f"{n} row {rows[n]!r}" for n in KEPT)
         + f"; InnoDB table ids {ids_before} before, {ids_after} after"),
    ]
    return all(ok for ok, _ in checks), [made, *run.evidence, *(_mark(ok, text) for ok, text in checks)]


ENGINE_PARTS: dict[str, Callable[[Lab, LabHost, BackupJob], tuple[bool, list[str]]]] = {
    "postgresql": postgresql_part,
    "mariadb": mariadb_part,
}


def probe_backup_restore(lab: Lab) -> tuple[bool, list[str]]:
    """Every engine of the db host: run its delivered job; one file per database; one restores alone."""
    db = lab._one("db")
    host = next(h for h in lab.cfg.hosts if h.name == db.name)
    passed, evidence = True, []
    for job in backup_jobs([settings.engine for settings in lab.cfg.databases_of(host)]):
        ok, lines = ENGINE_PARTS[job.engine](lab, db, job)
        passed = passed and ok
        evidence += [f"{job.engine}: {line}" for line in lines]
    return passed, evidence
