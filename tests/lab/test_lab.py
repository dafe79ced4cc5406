"""The lab for real: bring-up, every probe, convergence, a deliberately broken lab, and a clean teardown.

Root and network namespaces are needed; elsewhere these tests are skipped, saying why. The lab
is taken down at the end whatever happens (a lab left running by `make lab` is taken down too).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "build" / "lab"
PROBES = {"recursion", "authoritative", "fcrdns", "smtp-banner", "port25-egress", "nat-1to1", "submission-auth",
          "size-limit", "daily-limit", "maildir", "spf", "dkim", "mta-sts", "mail-auth-audit", "dns-not-www",
          "backup-restore", "webmail-tls", "fault", "zone-serial"}
TOOLS = ("ip", "nsenter", "nft", "named", "rndc", "postfix", "dovecot", "nginx", "policyd-rate-limit", "openssl",
         "pg_dump", "pg_restore", "psql", "setpriv", "systemd-analyze", "opendkim")

pytestmark = pytest.mark.lab


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "the lab needs root (network namespaces, daemons); CI runs as root"
    missing = [t for t in TOOLS if shutil.which(t, path="/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin") is None]
    if missing:
        return f"the lab needs {missing} (make deps installs them)"
    if not Path("/usr/lib/dovecot/imap").exists():
        return "the lab needs dovecot-imapd (our dovecot.conf serves IMAP; make lab installs it)"
    probe = f"isp-probe-{uuid.uuid4().hex[:5]}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, timeout=10)
    if made.returncode != 0:
        return f"no network namespace support here: {made.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)
    return None


def lab(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout)


def _machine_state() -> dict:
    links = subprocess.run(["ip", "-j", "link", "show"], capture_output=True, text=True, timeout=10).stdout
    return {
        "links": sorted(entry["ifname"] for entry in json.loads(links)),
        "named.conf": hashlib.sha256(Path("/etc/bind/named.conf").read_bytes()).hexdigest(),
        "main.cf": hashlib.sha256(Path("/etc/postfix/main.cf").read_bytes()).hexdigest(),
    }


def _lab_namespaces() -> list[str]:
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=10).stdout
    return [line.split()[0] for line in listing.splitlines() if line.startswith("isp-lab-")]


@pytest.fixture(scope="module")
def running_lab():
    reason = _why_not()
    if reason:
        pytest.skip(reason)
    before = _machine_state()
    try:
        result = lab("up")
        yield before, result
    finally:
        lab("down", timeout=120)


def test_every_probe_passes_with_its_evidence(running_lab):
    _, result = running_lab
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    report = json.loads((BUILD / "report.json").read_text())
    assert {p["name"] for p in report["probes"]} == PROBES
    failed = [p for p in report["probes"] if not p["passed"]]
    assert not failed, json.dumps(failed, indent=1)
    assert all(p["evidence"] for p in report["probes"])
    text = (BUILD / "report.txt").read_text()
    assert f"{len(PROBES)}/{len(PROBES)} probes passed" in text and "bring-up" in text
    assert report["timing"]["total"] < 120, report["timing"]


def test_the_report_never_shows_the_account_password(running_lab):
    password = (BUILD / "secrets" / "labuser.password").read_text().strip()
    _, result = running_lab
    assert len(password) >= 16
    for text in (result.stdout, result.stderr, (BUILD / "report.txt").read_text(), (BUILD / "report.json").read_text()):
        assert password not in text


def test_the_webmail_key_is_never_shown_and_its_files_are_owner_only(running_lab):
    _, result = running_lab
    key_file = BUILD / "secrets" / "webmail.isp.test.key"
    key_body = "".join(key_file.read_text().splitlines()[1:-1])
    assert len(key_body) > 100
    for text in (result.stdout, result.stderr, (BUILD / "report.txt").read_text(), (BUILD / "report.json").read_text(),
                 (BUILD / "inventory.json").read_text()):
        assert key_body[:40] not in text
    for path in (key_file, BUILD / "secrets" / "lab-ca.key", BUILD / "plan.json",
                 BUILD / "root" / "webmail" / "etc" / "ssl" / "isp" / "webmail.isp.test" / "privkey.pem"):
        assert path.stat().st_mode & 0o077 == 0, path


def test_a_wrong_name_certificate_from_the_same_ca_fails_the_webmail_probe(running_lab):
    """Put by hand on the webmail host (not through the stack, whose openssl check would refuse it)."""
    import datetime

    from lab.cli import load_topology
    from lab.hosts import host_run
    from lab.pki import issue_leaf

    secrets = BUILD / "secrets"
    cert, key = issue_leaf("wrong.isp.test", ca_cert=(secrets / "lab-ca.pem").read_bytes(),
                           ca_key=(secrets / "lab-ca.key").read_bytes(), now=datetime.datetime.now(datetime.UTC))
    webmail = load_topology("lab").host("webmail")
    where = "/etc/ssl/isp/webmail.isp.test"
    host_run(webmail, f"cat > {where}/fullchain.pem", input_text=cert.decode())
    host_run(webmail, f"umask 077 && cat > {where}/privkey.pem", input_text=key.decode())
    host_run(webmail, "nginx -t -q && systemctl reload nginx && sleep 1")
    probe = lab("probe", "--only", "webmail-tls")
    assert probe.returncode == 1, probe.stdout
    result = json.loads((BUILD / "report.json").read_text())["probes"][0]
    assert result["name"] == "webmail-tls" and not result["passed"]
    assert any("rejected" in line and "mismatch" in line.lower() for line in result["evidence"]), result["evidence"]
    restored = lab("deliver")  # the stack's provided pair goes back in
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert lab("probe", "--only", "webmail-tls").returncode == 0


def test_the_dkim_and_mta_sts_keys_are_never_shown_and_are_owner_only(running_lab):
    _, result = running_lab
    secrets = BUILD / "secrets"
    keys = [secrets / "dkim-s2026a.key", secrets / "mta-sts.isp.test.key"]
    shown = [result.stdout, result.stderr, *(p.read_text() for p in (BUILD / "report.txt", BUILD / "report.json",
                                                                      BUILD / "inventory.json"))]
    for key_file in keys:
        body = "".join(key_file.read_text().splitlines()[1:-1])
        assert len(body) > 100 and stat_private(key_file)
        assert not any(body[:40] in text for text in shown), key_file
    delivered = BUILD / "root" / "mail" / "etc" / "dkimkeys" / "s2026a.private"
    assert delivered.read_text() == keys[0].read_text() and stat_private(delivered)


def stat_private(path: Path) -> bool:
    return path.stat().st_mode & 0o077 == 0


def _replaced(*names: str) -> str:
    """The zone with its own TXT at each of `names`: the stack's record of that name is then not published
    (the operator's record wins), so a receiver finds no record of that kind there."""
    records = [{"name": name, "type": "TXT", "content": "lab test: the record that belongs here is removed"}
               for name in names]
    return "isp:zones=" + json.dumps([{"name": "isp.test", "records": records}])


def _report() -> dict[str, dict]:
    return {p["name"]: p for p in json.loads((BUILD / "report.json").read_text())["probes"]}


def test_without_signing_and_records_the_mail_auth_probes_fail_and_pass_again_after(running_lab):
    """One broken delivery (two lab deliveries in all, each costs a Postfix and OpenDKIM restart): DKIM
    signing off (its key's secret goes too: a secret no setting reads is refused), and hand-written TXT
    records in place of the stack's `_mta-sts` and `_dmarc`."""
    probes = ["dkim", "mta-sts", "mail-auth-audit"]
    only = [word for name in probes for word in ("--only", name)]
    try:
        broken = lab("deliver", '--set=isp:mail={"dkim":null}', "--set=isp:dkimKey_s2026a=null",
                     f"--set={_replaced('_mta-sts', '_dmarc')}")
        assert broken.returncode == 0, broken.stdout[-3000:] + broken.stderr
        probe = lab("probe", *only)
        assert probe.returncode == 1, probe.stdout
        report = _report()
        assert not any(report[name]["passed"] for name in probes), probe.stdout
        dkim = report["dkim"]["evidence"]
        assert any("no DKIM-Signature" in line for line in dkim), dkim
        assert any(line.startswith("DMARC:") and "unexpected" in line for line in dkim), dkim
        mta_sts = report["mta-sts"]["evidence"]
        assert any("_mta-sts.isp.test TXT" in line and "unexpected" in line for line in mta_sts), mta_sts
    finally:
        restored = lab("deliver")
        assert restored.returncode == 0, restored.stdout[-3000:]
    again = lab("probe", *only)
    assert again.returncode == 0, again.stdout
    assert all(_report()[name]["passed"] for name in probes)


def test_inventory_lists_every_host_with_namespace_interfaces_and_roles(running_lab):
    inventory = json.loads((BUILD / "inventory.json").read_text())["hosts"]
    assert set(inventory) == {"internet", "gw", "ns1", "mail", "www", "webmail", "db", "switch", "customer"}
    namespaces = set(_lab_namespaces())
    for host in inventory.values():
        assert host["namespace"] in namespaces and host["roles"] and host["interfaces"]
    assert "198.51.100.25/32" in inventory["gw"]["interfaces"]["wan0"]["addresses"]


def test_the_machine_itself_is_untouched(running_lab):
    before, _ = running_lab
    assert _machine_state() == before  # no new interface, our /etc unchanged
    assert not Path("/etc/bind/isp-staging").exists() and not Path("/etc/isp-staging").exists()
    mounts = Path("/proc/self/mountinfo").read_text()  # the hosts' overlays live in their namespaces only
    assert "isp-lab-host" not in mounts and str(BUILD) not in mounts


def test_running_it_again_converges(running_lab):
    again = lab("up")
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-2000:]
    assert f"{len(PROBES)}/{len(PROBES)} probes passed" in again.stdout


def test_a_lab_with_recursion_opened_to_any_fails_the_recursion_probe(running_lab):
    opened = lab("deliver", "--set", 'isp:dns={"recursionClients":["any"]}')
    assert opened.returncode == 0, opened.stdout[-3000:] + opened.stderr
    probe = lab("probe", "--only", "recursion")
    assert probe.returncode == 1, probe.stdout
    result = json.loads((BUILD / "report.json").read_text())["probes"][0]
    assert result["name"] == "recursion" and not result["passed"]
    assert "from internet" in result["evidence"][0] and "NOERROR" in result["evidence"][0]
    restored = lab("deliver")
    assert restored.returncode == 0, restored.stdout[-3000:]


def test_lab_down_removes_every_namespace_process_and_root(running_lab):
    before, _ = running_lab
    down = lab("down", timeout=120)
    assert down.returncode == 0, down.stderr
    assert _lab_namespaces() == []
    assert not (BUILD / "root").exists()
    assert _machine_state()["links"] == before["links"]
    leftovers = subprocess.run(["pgrep", "-f", "isp-lab"], capture_output=True, text=True, timeout=10).stdout
    assert leftovers.strip() == ""
