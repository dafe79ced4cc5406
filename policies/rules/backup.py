"""Backup lesson 9: one dump file per database, and every database host backed up.

Two findings, one policy:

- A dump that writes several databases into one output (`pg_dumpall` without
  `--globals-only`, `mysqldump --all-databases`/`-A` or `--databases a b`, `mysqlpump`
  without names), wherever the stack puts it: a delivered script, cron table, systemd unit
  or any other file, or the text of a `command:remote/local:Command`.
- A database host with no scheduled per-database backup job. Database hosts are the hosts
  that receive a PostgreSQL or MySQL/MariaDB server config (postgresql.conf, pg_hba.conf,
  my.cnf, mariadb.conf.d/*.cnf), and those our components name (`databaseHosts`
  evidence). A job is a per-database dump (`pg_dump`, a single-database `mysqldump`) in a
  cron file, in a systemd service that a timer on the host starts, or in a script that such
  a cron file or timer-started service runs (named by its deployed path). A host running
  both engines needs a job for each: a PostgreSQL job dumps no MariaDB database.

Level: advisory by default. An all-in-one dump is still a backup: the lesson is the pain of
restoring one customer from it, not an outage or exposure at deploy time, and a stack may be
mid-migration from one layout to the other; an operator who wants it blocking sets
`{"one-dump-per-database": "mandatory"}`. Severity is high, because a database host with no
backup at all loses customer data on its first disk failure.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator, Mapping
from typing import Any

from hostview import evidence, hosts, stackview
from pulumi_policy import Severity
from readers import backupjobs, shellwords

from rules.kit import ADVISORY, Finding, NotApplicable, Outcome, declare

DB_CONFIG_KINDS = {"postgresql": "PostgreSQL", "mysql": "MySQL/MariaDB"}
# The engines `databaseHosts` evidence names, as the families above; an unknown engine asks for any job.
ENGINE_FAMILIES = {"postgresql": "PostgreSQL", "mariadb": "MySQL/MariaDB", "mysql": "MySQL/MariaDB"}
# The dump tools that back up one database of each family.
FAMILY_OF_TOOL = {**{t: "PostgreSQL" for t in backupjobs.PER_DATABASE},
                  **{t: "MySQL/MariaDB" for t in backupjobs.MYSQL_DUMP | backupjobs.MYSQL_PUMP}}
_TIMER_UNIT = re.compile(r"^\s*Unit\s*=\s*(\S+)\s*$", re.MULTILINE)


def _texts(view: stackview.StackView) -> list[tuple[str, str, str, str | None, evidence.HostFile | None]]:
    """(host, label, text, urn, file) of everything that could run a dump."""
    out = [(f.host, f.label, f.text, f.urn, f) for f in view.files if f.text is not None and f.kind != "pem"]
    out += [(c.host, c.label, text, c.urn, None) for c in view.commands for text in c.texts]
    return out


# What a per-database job of each family runs: the advice of both findings.
_FAMILY_ADVICE = {"PostgreSQL": "pg_dump -Fc per database, listed at run time",
                  "MySQL/MariaDB": "one mysqldump --single-transaction --databases <db> per database, "
                                   "listed at run time"}


def _advice(dump: backupjobs.Dump) -> str:
    if dump.call.tool in backupjobs.POSTGRES_ALL:
        return "dump each database with pg_dump -Fc and the roles with pg_dumpall --globals-only"
    return "run " + _FAMILY_ADVICE["MySQL/MariaDB"]


def _scheduled_services(files: list[evidence.HostFile]) -> set[str]:
    """Service unit names a timer on the host starts (Unit=, else the timer's own name)."""
    started = set()
    for f in files:
        if f.kind == "systemd" and f.deployed_path.endswith(".timer") and f.text is not None:
            units = _TIMER_UNIT.findall(f.text)
            started.update(units or [posixpath.basename(f.deployed_path)[: -len(".timer")] + ".service"])
    return started


def _mentions(text: str | None, path: str) -> bool:
    return bool(text) and re.search(rf"(?<![\w./-]){re.escape(path)}(?![\w./-])", text) is not None


def _families(dumps: list[backupjobs.Dump]) -> set[str]:
    return {FAMILY_OF_TOOL[d.call.tool] for d in dumps if d.per_database and d.call.tool in FAMILY_OF_TOOL}


def _backup_jobs(files: list[evidence.HostFile], commands: list[evidence.CommandText]) -> dict[str, set[str]]:
    """The scheduled per-database backup jobs among one host's files and commands: label -> families dumped."""
    services = _scheduled_services(files)
    schedules = [f for f in files if f.kind == "cron"]
    schedules += [f for f in files if f.kind == "systemd" and posixpath.basename(f.deployed_path) in services]
    schedule_texts = [f.text for f in schedules]
    schedule_texts += [entry for c in commands for t in c.texts for entry in shellwords.crontab_entries(t)]
    jobs: dict[str, set[str]] = {}
    for f in files:
        dumps = backupjobs.dumps(f.text) if f.text is not None and f.kind != "pem" else []
        if not any(d.per_database for d in dumps):
            continue
        if f in schedules or any(_mentions(text, f.deployed_path) for text in schedule_texts):
            jobs.setdefault(f.label, set()).update(_families(dumps))
    for command in commands:
        entries = [entry for text in command.texts for entry in shellwords.crontab_entries(text)]
        dumps = [d for entry in entries for d in backupjobs.dumps(entry)]
        if any(d.per_database for d in dumps):
            jobs.setdefault(command.label, set()).update(_families(dumps))
    return jobs


# Debian packages that make a host a database server.
DB_PACKAGES = {"postgresql": "PostgreSQL", "mariadb-server": "MySQL/MariaDB", "mysql-server": "MySQL/MariaDB",
               "default-mysql-server": "MySQL/MariaDB"}


def database_hosts(view: stackview.StackView) -> dict[str, tuple[hosts.Host | None, list[str], set[str]]]:
    """host key -> (the host, why it is a database host, the engine families it runs as far as known)."""
    found: dict[str, tuple[hosts.Host | None, list[str], set[str]]] = {}
    for host in hosts.of(view):
        configs = [f for f in host.files if f.kind in DB_CONFIG_KINDS]
        why = [f"{DB_CONFIG_KINDS[f.kind]} config {f.deployed_path}" for f in configs]
        families = {DB_CONFIG_KINDS[f.kind] for f in configs}
        for c in host.commands:
            for p in c.packages:
                family = DB_PACKAGES.get(p) or ("PostgreSQL" if p.startswith("postgresql-1") else None)
                if family:
                    why.append(f"{family} installed by {c.label}")
                    families.add(family)
        if why and host.key:
            found[host.key] = (host, why, families)
    for item in view.evidence.get("databaseHosts", []):
        if isinstance(item, Mapping) and isinstance(item.get("host"), str) and item.get("host"):
            engine = item.get("engine") if isinstance(item.get("engine"), str) else "database"
            host = hosts.host_of(view, item["host"])
            key = host.key if host is not None else item["host"]
            entry = found.setdefault(key, (host, [], set()))
            entry[1].append(f"a {engine} host of the stack")
            if engine in ENGINE_FAMILIES:
                entry[2].add(ENGINE_FAMILIES[engine])
    return {key: (host, list(dict.fromkeys(why)), families) for key, (host, why, families) in found.items()}


@declare(
    "one-dump-per-database", lesson=9, level=ADVISORY, severity=Severity.HIGH,
    description="Each database is dumped to its own file, and every database host has a scheduled backup job.",
    remediation="Back up each database to its own file: list the databases when the job runs, pg_dump -Fc each "
                "(plus pg_dumpall --globals-only for roles) or mysqldump --single-transaction --databases <db> "
                "each, and schedule it with a cron entry or a systemd timer on every database host.",
    url="https://www.postgresql.org/docs/current/app-pg-dumpall.html",
    tags=["backup", "database", "lesson-9"],
)
def one_dump_per_database(view: stackview.StackView, config: Mapping[str, Any]) -> Iterator[Outcome]:
    judged = False
    for _host, label, text, urn, _file in _texts(view):
        # Cron entries handed to `crontab` inside a command's words run too.
        handed = [d for entry in shellwords.crontab_entries(text) for d in backupjobs.dumps(entry)]
        for dump in backupjobs.dumps(text) + handed:
            judged = True
            if dump.several:
                yield Finding(f"{label} (line {dump.call.line}: `{dump.call.text}`): {dump.several}, so restoring "
                              f"one customer means the whole dump; {_advice(dump)}", urn)
    for _key, (host, why, families) in sorted(database_hosts(view).items()):
        judged = True
        files = list(host.files) if host is not None else []
        commands = list(host.commands) if host is not None else []
        if any(f.text is None and f.problem and "unknown" in f.problem for f in files):
            continue  # judged at `up`, when every file of the host is known
        jobs = _backup_jobs(files, commands)
        urn = next((f.urn for f in files if f.kind in DB_CONFIG_KINDS), None)
        label = host.label if host is not None else _key
        if not jobs:
            yield Finding(f"database host {label} ({'; '.join(why)}) has no scheduled per-database backup job: "
                          "deliver a script that dumps each database to its own file (pg_dump -Fc per database, "
                          "or one mysqldump per database) and a cron entry or systemd timer that runs it", urn)
            continue
        dumped = set().union(*jobs.values())
        for family in sorted(families - dumped):
            yield Finding(f"database host {label} ({'; '.join(why)}) runs {family}, but none of its scheduled "
                          f"backup jobs ({', '.join(sorted(jobs))}) dumps a {family} database: deliver a job "
                          f"for it too ({_FAMILY_ADVICE[family]}) with a cron entry or systemd timer", urn)
    if not judged:
        yield NotApplicable("the stack has no database host and delivers no database dump")
