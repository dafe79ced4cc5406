"""Builders for the policy-pack tests: fixture packs (tests/preflight/packs), registrations as the
runner records them, and a runner of preflight.policyrun that records every process it starts."""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path

import pytest

from preflight.model import ASSET_SIG, SIG_KEY, UNKNOWN, Registration, secret
from preflight.policyrun import run_policy_packs

PACKS = Path(__file__).resolve().parent / "packs"
DNS_PACK, MAIL_PACK, CRASHING_PACK = PACKS / "dns_guard", PACKS / "mail_guard", PACKS / "crashing"
DNS, MAIL = "preflight-fixture-dns", "preflight-fixture-mail"

PREFIX = "urn:pulumi:dev::isp::"
ROOT_URN = PREFIX + "pulumi:pulumi:Stack::isp-dev"
PROVIDER_URN = PREFIX + "pulumi:providers:cloudflare::default_6_23_0"
ZONE_URN = PREFIX + "isp:dns:Zone::example"
RECORD_URN = PREFIX + "isp:dns:Zone$cloudflare:index/dnsRecord:DnsRecord::www"
VAULT_URN = PREFIX + "test:index:Vault::secrets"
MAIL_URN = PREFIX + "test:index:MailHost::mx1"
COPY_URN = PREFIX + "command:remote:CopyToRemote::main-cf"
VAULT_PASSWORD = "hunter2-but-longer"
API_TOKEN = "tok-abcdef-123456"


def registrations() -> list[Registration]:
    record_inputs = {"zoneId": UNKNOWN, "name": "www", "type": "A", "content": "192.0.2.10", "ttl": 86400}
    mail_inputs = {"messageSizeLimit": 20971520, "mailboxFormat": "mbox"}
    main_cf = {SIG_KEY: ASSET_SIG, "text": "mailbox_size_limit = 0\n"}
    return [
        Registration(ROOT_URN, "pulumi:pulumi:Stack", "isp-dev", custom=False, outputs={"zone": "example.net"}),
        Registration(
            PROVIDER_URN, "pulumi:providers:cloudflare", "default_6_23_0", custom=True, parent=ROOT_URN,
            inputs={"version": "6.23.0"}, outputs={"version": "6.23.0"},
        ),
        Registration(
            ZONE_URN, "isp:dns:Zone", "example", custom=False, parent=ROOT_URN, inputs={"name": "example.net"}
        ),
        Registration(
            RECORD_URN, "cloudflare:index/dnsRecord:DnsRecord", "www", custom=True, parent=ZONE_URN,
            dependencies=[ZONE_URN], property_dependencies={"zoneId": [ZONE_URN], "ttl": []},
            provider=f"{PROVIDER_URN}::{UNKNOWN}", protect=True,
            inputs={**record_inputs, "__defaults": []}, outputs={**record_inputs, "id": UNKNOWN},
        ),
        Registration(
            VAULT_URN, "test:index:Vault", "secrets", custom=True, parent=ROOT_URN,
            inputs={"password": secret(VAULT_PASSWORD)}, outputs={"password": secret(VAULT_PASSWORD), "id": UNKNOWN},
        ),
        Registration(
            MAIL_URN, "test:index:MailHost", "mx1", custom=True, parent=ROOT_URN,
            inputs=mail_inputs, outputs={**mail_inputs, "id": UNKNOWN},
        ),
        Registration(
            COPY_URN, "command:remote:CopyToRemote", "main-cf", custom=True, parent=ROOT_URN,
            inputs={"source": main_cf, "remotePath": "/etc/postfix/main.cf"},
        ),
    ]


ALL_URNS = {registration.urn for registration in registrations()}


class Runner:
    """Runs packs over the fixture registrations and records every process started."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.processes: list[subprocess.Popen] = []
        processes = self.processes
        # Threads an earlier test of this worker left running (daemon threads waiting out a timeout) are not
        # this run's: a process one of them starts is not recorded. Every thread preflight starts is newer.
        earlier = {thread.ident for thread in threading.enumerate() if thread is not threading.main_thread()}

        class RecordingPopen(subprocess.Popen):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                if threading.get_ident() not in earlier:
                    processes.append(self)

        monkeypatch.setattr(subprocess, "Popen", RecordingPopen)

    def run(self, pack_dirs: list[Path], config_file: Path | None = None, **options):
        return run_policy_packs(
            registrations(), project="isp", stack="dev", organization="acme",
            config={"isp:apiToken": API_TOKEN, "isp:domain": "example.net"}, secret_keys=["isp:apiToken"],
            pack_dirs=pack_dirs, pack_config_file=config_file, **options,
        )

    def pack_processes(self) -> list[subprocess.Popen]:
        return [process for process in self.processes if "pulumi.policy" in " ".join(map(str, process.args))]

    def assert_all_stopped(self, expected: int) -> None:
        """`expected` packs were started; they and every other process (relays) have stopped."""
        assert len(self.pack_processes()) == expected
        running = [process.args for process in self.processes if process.poll() is None]
        assert not running, f"still running: {running}"


def violations(report, policy: str, urn: str | None = None):
    return [v for v in report.violations if v.policy == policy and (urn is None or v.urn == urn)]


def write_config(directory: Path, config: dict) -> Path:
    path = directory / "policy-config.json"
    path.write_text(json.dumps(config))
    return path


INTROSPECT_PACK = PACKS / "introspect"


def introspect_pack(directory: Path, runtime_options: dict | None = None) -> Path:
    """A copy of the introspect pack in `directory`, its PulumiPolicy.yaml with `runtime_options`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "__main__.py").write_text((INTROSPECT_PACK / "__main__.py").read_text())
    runtime = {"name": "python", "options": runtime_options} if runtime_options else "python"
    (directory / "PulumiPolicy.yaml").write_text(json.dumps({"runtime": runtime, "version": "0.2.0"}))
    return directory


def how_the_pack_ran(report) -> dict:
    """What the introspect pack reported: executable, virtualEnv, stackTags."""
    [violation] = violations(report, "how-i-run")
    return json.loads(violation.message.splitlines()[-1])
