"""A `db` host's database servers and their backup jobs (lesson 9), and the rules for listing several.

A db host lists its engines in `databases:` (each its own backup job, components/database_backup.py);
`database:` is the one-engine shorthand, and a db host with neither runs PostgreSQL with the defaults.
Each refusal is one named rule whose message names the key, the value and the rule:

- `database-or-databases`: both keys set at once (which one would win is a guess).
- `one-job-per-engine`: one engine listed twice (two jobs dumping the same server).
- `backup-dirs-apart`: two engines sharing a backupDir, or one's inside the other's: their runs would
  interleave in one directory, each job's retention would judge the other's runs, and a job refuses a
  directory below one owned by another user (components/render/backup.py).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from components.config.fields import ConfigModel
from components.render import quoting


class DatabaseSettings(ConfigModel):
    """A `db` host's database server and its per-database backup job (lesson 9)."""

    engine: Literal["postgresql", "mariadb"] = "postgresql"
    retention_days: int = Field(default=14, ge=1, le=3650)
    backup_dir: str = "/var/backups/db"
    # systemd OnCalendar= syntax; the host's `systemd-analyze verify` is the final judge.
    schedule: str = "*-*-* 02:30:00"

    @field_validator("backup_dir")
    @classmethod
    def _backup_dir(cls, value: str) -> str:
        # Where a directory a root job takes over may live: components/config/paths.py, one rule per check.
        from components.config.paths import host_directory

        return host_directory(value)

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        try:
            return quoting.calendar_event(value, "schedule")
        except quoting.RenderValueError as exc:
            raise ValueError(exc.rule) from None


def refuse_database_and_databases(database: DatabaseSettings | None,
                                  databases: list[DatabaseSettings] | None) -> None:
    if database is not None and databases is not None:
        engines = [d.engine for d in databases]
        raise ValueError(
            f"database (engine '{database.engine}') and databases (engines {engines}) are both set; `database:` is "
            "the one-engine shorthand of `databases:`: list every engine in databases and remove database "
            "(rule: database-or-databases)")


def refuse_an_engine_twice(databases: list[DatabaseSettings] | None) -> None:
    first: dict[str, int] = {}
    for i, settings in enumerate(databases or ()):
        if settings.engine in first:
            raise ValueError(
                f"databases[{i}].engine '{settings.engine}' is listed again (databases[{first[settings.engine]}]); "
                "a host runs each engine once, with one backup job: merge the two entries "
                "(rule: one-job-per-engine)")
        first[settings.engine] = i


def refuse_shared_backup_dirs(databases: list[DatabaseSettings] | None) -> None:
    listed = list(enumerate(databases or ()))
    for i, settings in listed:
        for j, other in listed[:i]:
            mine, theirs = settings.backup_dir, other.backup_dir
            if mine == theirs:
                where = f"is also databases[{j}].backupDir ({other.engine})"
            elif mine.startswith(theirs + "/") or theirs.startswith(mine + "/"):
                inside = "inside" if mine.startswith(theirs + "/") else "around"
                where = f"lies {inside} databases[{j}].backupDir '{theirs}' ({other.engine})"
            else:
                continue
            raise ValueError(
                f"databases[{i}].backupDir '{mine}' ({settings.engine}) {where}; two engines' runs and "
                "retention in one directory would interleave: give each engine a backupDir of its own, "
                "neither inside the other (rule: backup-dirs-apart)")
