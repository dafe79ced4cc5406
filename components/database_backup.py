"""DatabaseBackup: one dump file per database, every night, on a `db` host (lesson 9).

A host runs one job per database engine it lists (`databases:`, or the one-engine `database:`).
Each job's script (`components/render/backup.py`) lists the databases when it runs, dumps each to
its own dated, compressed file with a SHA256SUMS manifest, keeps `retentionDays` days and
fails the unit if any database failed. The script goes first (checked with `bash -n`), then
the service and timer (checked with `systemd-analyze verify`, which needs the script in
place), then the timer is enabled. `render_database_backup` is pure: the program renders every
file of the stack before it registers anything (`components/stack.py`).

Names: the host's first job is `isp-db-backup` with the children `<host>-backup-script` and
`<host>-backup-timer`, exactly what a one-engine host has always had, so its plan is unchanged;
each further engine's job is `isp-db-backup-<engine>` with children `<host>-<engine>-backup-script`
and `<host>-<engine>-backup-timer`. Adding an engine therefore renames nothing already delivered
(the delivery never deletes files: a renamed job would leave its old timer running). The evidence
`databaseHosts` names the host once per engine, so the pack expects a job for each.
"""

from __future__ import annotations

import functools
import posixpath

import pulumi
from pydantic import BaseModel, ConfigDict, Field

from components.config import DatabaseSettings
from components.delivery import HostConnection, ManagedFile, ServiceConfig, ServiceConfigArgs, staging_path
from components.render.backup import (
    JOB_NAME,
    BackupJob,
    backup_jobs,
    render_backup_script,
    render_backup_service,
    render_backup_timer,
)

UNIT_DIR = "/etc/systemd/system"


class RenderedBackupJob(BaseModel):
    model_config = ConfigDict(frozen=True)

    job: BackupJob
    database: DatabaseSettings
    script: ServiceConfigArgs
    timer: ServiceConfigArgs  # the service and its timer, installed once the script is in place


class RenderedDatabaseBackup(BaseModel):
    model_config = ConfigDict(frozen=True)

    jobs: tuple[RenderedBackupJob, ...]


class DatabaseBackupArgs(BaseModel):
    model_config = ConfigDict(frozen=True)

    connection: HostConnection
    fqdn: str
    databases: tuple[DatabaseSettings, ...] = Field(min_length=1)

    @functools.cached_property
    def rendered(self) -> RenderedDatabaseBackup:
        """Every file, rendered once (a refused value raises here, before anything is registered)."""
        return render_database_backup(self)


def render_database_backup(args: DatabaseBackupArgs) -> RenderedDatabaseBackup:
    jobs = backup_jobs([db.engine for db in args.databases])
    return RenderedDatabaseBackup(jobs=tuple(_render_job(args.connection, job, db)
                                             for job, db in zip(jobs, args.databases, strict=True)))


def _render_job(connection: HostConnection, job: BackupJob, db: DatabaseSettings) -> RenderedBackupJob:
    script = ManagedFile(
        job.script_path,
        render_backup_script(engine=db.engine, backup_dir=db.backup_dir, retention_days=db.retention_days,
                             job=job.name),
        mode="0755",
        role="backup-script",
    )
    service = ManagedFile(
        posixpath.join(UNIT_DIR, job.service_name),
        render_backup_service(engine=db.engine, backup_dir=db.backup_dir, script_path=job.script_path),
        role="backup-service",
    )
    timer = ManagedFile(
        posixpath.join(UNIT_DIR, job.timer_name),
        render_backup_timer(schedule=db.schedule, service_name=job.service_name),
        role="backup-timer",
    )
    return RenderedBackupJob(
        job=job,
        database=db,
        script=ServiceConfigArgs(
            connection=connection,
            files=[script],
            checks=[["bash", "-n", staging_path(script.path)]],
        ),
        timer=ServiceConfigArgs(
            connection=connection,
            files=[service, timer],
            checks=[["systemd-analyze", "verify", staging_path(service.path), staging_path(timer.path)]],
            reload=[["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", job.timer_name]],
        ),
    )


def child_prefix(name: str, job: BackupJob) -> str:
    """`<host>` for the job named isp-db-backup (as a one-engine host always had), else `<host>-<engine>`."""
    return name if job.name == JOB_NAME else f"{name}-{job.engine}"


class DatabaseBackup(pulumi.ComponentResource):
    def __init__(self, name: str, args: DatabaseBackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        rendered = args.rendered  # before the first registration: a refused value registers nothing
        # Evidence for the policy pack: this host runs these database servers, each must get a backup job.
        evidence = {"databaseHosts": [{"host": args.connection.host, "engine": db.engine} for db in args.databases]}
        super().__init__("isp:db:DatabaseBackup", name, evidence, opts)
        for job in rendered.jobs:
            prefix = child_prefix(name, job.job)
            installed_script = ServiceConfig(
                f"{prefix}-backup-script", job.script, opts=pulumi.ResourceOptions(parent=self)
            )
            ServiceConfig(
                f"{prefix}-backup-timer",
                job.timer,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[installed_script]),
            )
        first = rendered.jobs[0]
        outputs = {**evidence, "backupScript": first.job.script_path, "schedule": first.database.schedule}
        if len(rendered.jobs) > 1:  # a one-engine host's outputs stay as they always were
            outputs["backupJobs"] = [{"engine": j.job.engine, "backupScript": j.job.script_path,
                                      "schedule": j.database.schedule} for j in rendered.jobs]
        self.register_outputs(outputs)
