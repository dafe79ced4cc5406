"""DatabaseBackup: one dump file per database, every night, on a `db` host (lesson 9).

The script (`components/render/backup.py`) lists the databases when it runs, dumps each to
its own dated, compressed file with a SHA256SUMS manifest, keeps `retentionDays` days and
fails the unit if any database failed. The script goes first (checked with `bash -n`), then
the service and timer (checked with `systemd-analyze verify`, which needs the script in
place), then the timer is enabled. `render_database_backup` is pure: the program renders every
file of the stack before it registers anything (`components/stack.py`).
"""

from __future__ import annotations

import functools
import posixpath

import pulumi
from pydantic import BaseModel, ConfigDict

from components.config import DatabaseSettings
from components.delivery import HostConnection, ManagedFile, ServiceConfig, ServiceConfigArgs, staging_path
from components.render.backup import (
    SCRIPT_PATH,
    SERVICE_NAME,
    TIMER_NAME,
    render_backup_script,
    render_backup_service,
    render_backup_timer,
)

UNIT_DIR = "/etc/systemd/system"


class RenderedDatabaseBackup(BaseModel):
    model_config = ConfigDict(frozen=True)

    script: ServiceConfigArgs
    timer: ServiceConfigArgs  # the service and its timer, installed once the script is in place


class DatabaseBackupArgs(BaseModel):
    model_config = ConfigDict(frozen=True)

    connection: HostConnection
    fqdn: str
    database: DatabaseSettings

    @functools.cached_property
    def rendered(self) -> RenderedDatabaseBackup:
        """Every file, rendered once (a refused value raises here, before anything is registered)."""
        return render_database_backup(self)


def render_database_backup(args: DatabaseBackupArgs) -> RenderedDatabaseBackup:
    db = args.database
    script = ManagedFile(
        SCRIPT_PATH,
        render_backup_script(engine=db.engine, backup_dir=db.backup_dir, retention_days=db.retention_days),
        mode="0755",
        role="backup-script",
    )
    service = ManagedFile(
        posixpath.join(UNIT_DIR, SERVICE_NAME),
        render_backup_service(engine=db.engine, backup_dir=db.backup_dir, script_path=SCRIPT_PATH),
        role="backup-service",
    )
    timer = ManagedFile(
        posixpath.join(UNIT_DIR, TIMER_NAME), render_backup_timer(schedule=db.schedule), role="backup-timer"
    )
    return RenderedDatabaseBackup(
        script=ServiceConfigArgs(
            connection=args.connection,
            files=[script],
            checks=[["bash", "-n", staging_path(script.path)]],
        ),
        timer=ServiceConfigArgs(
            connection=args.connection,
            files=[service, timer],
            checks=[["systemd-analyze", "verify", staging_path(service.path), staging_path(timer.path)]],
            reload=[["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", TIMER_NAME]],
        ),
    )


class DatabaseBackup(pulumi.ComponentResource):
    def __init__(self, name: str, args: DatabaseBackupArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        rendered = args.rendered  # before the first registration: a refused value registers nothing
        db = args.database
        # Evidence for the policy pack: this host runs a database, so it must get a backup job.
        evidence = {"databaseHosts": [{"host": args.connection.host, "engine": db.engine}]}
        super().__init__("isp:db:DatabaseBackup", name, evidence, opts)
        installed_script = ServiceConfig(
            f"{name}-backup-script", rendered.script, opts=pulumi.ResourceOptions(parent=self)
        )
        ServiceConfig(
            f"{name}-backup-timer",
            rendered.timer,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[installed_script]),
        )
        self.register_outputs({**evidence, "backupScript": SCRIPT_PATH, "schedule": db.schedule})
