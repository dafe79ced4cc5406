"""The lab for real: bring-up, every probe, convergence, a deliberately broken lab, and a clean teardown.

Root and network namespaces are needed; elsewhere these tests are skipped, saying why. The lab
is taken down at the end whatever happens (a lab left running by `make lab` is taken down too).
"""

from __future__ import annotations

import hashlib
import itertools
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
          "backup-restore", "webmail-tls", "webmail-login", "webmail-browser", "audit-outside", "audit-customer",
          "fault", "zone-serial"}
# The outside probes judged by the audit's checks (`python -m audit --only ...`, lab/audit_probes.py).
BY_AUDIT = {"recursion", "authoritative", "fcrdns", "smtp-banner", "spf", "mta-sts", "dns-not-www", "webmail-tls"}
TOOLS = ("ip", "nsenter", "nft", "named", "rndc", "postfix", "dovecot", "nginx", "policyd-rate-limit", "openssl",
         "pg_dump", "pg_restore", "psql", "setpriv", "systemd-analyze", "opendkim", "mariadbd", "mariadb",
         "mysqldump", "mariadb-install-db")

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
    for probe in (p for p in report["probes"] if p["name"] in BY_AUDIT):  # one implementation: the audit's
        assert probe["evidence"][0].startswith("python -m audit --only "), probe
        assert any(line.startswith("PASS  ") for line in probe["evidence"]), probe
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


def _install_webmail_certificate(name: str, *more_names: str) -> None:
    """Put a certificate from the lab CA by hand on the webmail host (not through the stack, whose openssl
    check would refuse it)."""
    import datetime

    from lab.cli import load_topology
    from lab.hosts import host_run
    from lab.pki import issue_leaf

    secrets = BUILD / "secrets"
    cert, key = issue_leaf(name, ca_cert=(secrets / "lab-ca.pem").read_bytes(), more_names=more_names,
                           ca_key=(secrets / "lab-ca.key").read_bytes(), now=datetime.datetime.now(datetime.UTC))
    webmail = load_topology("lab").host("webmail")
    where = "/etc/ssl/isp/webmail.isp.test"
    host_run(webmail, f"cat > {where}/fullchain.pem", input_text=cert.decode())
    host_run(webmail, f"umask 077 && cat > {where}/privkey.pem", input_text=key.decode())
    host_run(webmail, "nginx -t -q && systemctl reload nginx && sleep 1")


def _webmail_probe() -> list[str]:
    probe = lab("probe", "--only", "webmail-tls")
    assert probe.returncode == 1, probe.stdout
    result = json.loads((BUILD / "report.json").read_text())["probes"][0]
    assert result["name"] == "webmail-tls" and not result["passed"]
    return result["evidence"]


def test_a_wrong_name_certificate_from_the_same_ca_fails_the_webmail_probe(running_lab):
    """A certificate naming webmail and another name verifies (the audit's check PASSes) but is not for its
    name only: the lab-only openssl step fails the probe. One for another name fails the audit's check."""
    _install_webmail_certificate("webmail.isp.test", "wrong.isp.test")
    evidence = _webmail_probe()
    assert any(line.startswith("PASS  webmail-certificate ") for line in evidence), evidence
    assert any("-verify_hostname wrong.isp.test: 0 " in line and line.endswith("<- unexpected")
               for line in evidence), evidence
    _install_webmail_certificate("wrong.isp.test")
    evidence = _webmail_probe()
    line, below = _failed_check(evidence, "webmail-certificate")
    assert "does not name webmail.isp.test" in line and any("wrong.isp.test" in e for e in below), evidence
    assert _audit_fails("webmail-certificate") == {"webmail-certificate"}
    restored = lab("deliver")  # the stack's provided pair goes back in
    assert restored.returncode == 0, restored.stdout[-3000:]
    assert lab("probe", "--only", "webmail-tls", "--only", "audit-outside").returncode == 0


def test_roundcube_pointed_at_a_wrong_imap_host_fails_the_login_probe(running_lab):
    """`isp:webmail.imapHost` merged into the lab's own isp:webmail (its certificate stays): Roundcube's
    config names wrong.isp.test, the login is refused with Roundcube's storage error, nothing after it
    happens; `lab deliver` puts the mail host's name back and the probe passes again."""
    try:
        broken = lab("deliver", "--set", 'isp:webmail={"imapHost":"wrong.isp.test"}')
        assert broken.returncode == 0, broken.stdout[-3000:]
        config = (BUILD / "root" / "webmail" / "etc" / "roundcube" / "config.inc.php").read_text()
        assert "$config['imap_host'] = 'ssl://wrong.isp.test:993';" in config
        probe = lab("probe", "--only", "webmail-login")
        assert probe.returncode == 1, probe.stdout
        evidence = _report()["webmail-login"]["evidence"]
        assert any("login page" in e or "login form with its _token" in e for e in evidence), evidence
        login = next(e for e in evidence if e.startswith("login as labuser: "))
        assert "Connection to storage server failed" in login and login.endswith("<- unexpected"), login
        assert any("(nothing was sent)" in e for e in evidence), evidence
    finally:
        restored = lab("deliver")
        assert restored.returncode == 0, restored.stdout[-3000:]
    assert lab("probe", "--only", "webmail-login").returncode == 0
    evidence = _report()["webmail-login"]["evidence"]
    assert not any(line.endswith("<- unexpected") for line in evidence), evidence
    password = (BUILD / "secrets" / "labuser.password").read_text().strip()
    assert not any(password in line or "roundcube_sess" in line for line in evidence)


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


def _failed_check(evidence: list[str], name: str) -> tuple[str, list[str]]:
    """The audit's FAIL line for check `name` in a probe's evidence (marked unexpected) and the indented
    evidence under it, which must not be empty."""
    starts = [i for i, line in enumerate(evidence) if line.startswith(f"FAIL  {name} ")]
    assert starts and evidence[starts[0]].endswith("<- unexpected"), (name, evidence)
    below = list(itertools.takewhile(lambda line: line.startswith("    "), evidence[starts[0] + 1:]))
    assert below, (name, evidence)
    return evidence[starts[0]], below


def _audit_fails(*checks: str) -> set[str]:
    """Run the audit-outside probe on the broken lab: it must FAIL, and each of `checks` with it (with its
    evidence); returns every check that failed."""
    probe = lab("probe", "--only", "audit-outside")
    assert probe.returncode == 1, probe.stdout
    evidence = _report()["audit-outside"]["evidence"]
    for name in checks:
        _failed_check(evidence, name)
    return {line.split()[1] for line in evidence if line.startswith("FAIL ")}


def _without_the_mail_hosts_ptr() -> str:
    """`isp:hosts` as Pulumi.lab.yaml has it, with the mail host's PTR unpublished (`publishPtr: false`)."""
    import yaml

    hosts = yaml.safe_load((REPO / "Pulumi.lab.yaml").read_text())["config"]["isp:hosts"]
    for host in hosts:
        if "mail" in host["roles"]:
            host["publishPtr"] = False
    return "isp:hosts=" + json.dumps(hosts)


def _replaced(*names: str) -> str:
    """The zone with its own TXT at each of `names`: the stack's record of that name is then not published
    (the operator's record wins), so a receiver finds no record of that kind there. And `www` also pointed
    at ns1's public address, as a hand-written record would (lesson 8: DNS and WWW on one host)."""
    records = [{"name": name, "type": "TXT", "content": "lab test: the record that belongs here is removed"}
               for name in names]
    records.append({"name": "www", "type": "A", "content": "198.51.100.53"})
    return "isp:zones=" + json.dumps([{"name": "isp.test", "records": records}])


def _report() -> dict[str, dict]:
    return {p["name"]: p for p in json.loads((BUILD / "report.json").read_text())["probes"]}


def test_a_lab_with_lessons_broken_fails_their_probes_and_the_audit_and_passes_again_after(running_lab):
    """One broken delivery, then the real one back (each delivery restarts BIND, Postfix and OpenDKIM): recursion
    opened to any; DKIM signing off (its key's secret goes too: a secret no setting reads is refused); hand-written
    TXT records in place of the stack's `_mta-sts` and `_dmarc`; `www` also at ns1's address."""
    probes = ["recursion", "fcrdns", "dkim", "mta-sts", "mail-auth-audit", "dns-not-www"]
    only = [word for name in probes for word in ("--only", name)]
    try:
        broken = lab("deliver", "--set", 'isp:dns={"recursionClients":["any"]}', '--set=isp:mail={"dkim":null}',
                     "--set=isp:dkimKey_s2026a=null", f"--set={_replaced('_mta-sts', '_dmarc')}",
                     f"--set={_without_the_mail_hosts_ptr()}")
        assert broken.returncode == 0, broken.stdout[-3000:] + broken.stderr
        probe = lab("probe", *only)
        assert probe.returncode == 1, probe.stdout
        report = _report()
        assert not any(report[name]["passed"] for name in probes), probe.stdout
        recursion = report["recursion"]["evidence"]
        line, below = _failed_check(recursion, "recursion-refused")  # the audit's, run from internet
        assert "open resolver" in line and any("NOERROR" in e for e in below), recursion
        assert any(e.startswith("PASS  recursion-offered ") for e in recursion)  # customers still served
        line, below = _failed_check(report["fcrdns"]["evidence"], "fcrdns")  # lesson 5: the PTR withdrawn
        assert "198.51.100.25" in line, (line, below)
        dkim = report["dkim"]["evidence"]
        assert any("no DKIM-Signature" in line for line in dkim), dkim
        assert any(line.startswith("DMARC:") and "unexpected" in line for line in dkim), dkim
        line, _ = _failed_check(report["mta-sts"]["evidence"], "mta-sts")  # the audit's check, in the probe
        assert "_mta-sts.isp.test" in line, line
        line, below = _failed_check(report["dns-not-www"]["evidence"], "dns-not-www")  # lesson 8
        assert "www.isp.test shares 198.51.100.53" in line and any("IN A 198.51.100.53" in e for e in below), line
        # The audit knows what the stack should publish (its file and build/lab/lab-inputs.json): it sees
        # recursion open, the PTR gone (and so the banner no longer naming it), the keys withdrawn and both
        # records replaced, www beside ns1, and nothing else (but what follows from them: the banner no longer
        # names the PTR, and mta-sts.isp.test, a CNAME to www, now also leads to ns1, which serves no HTTPS).
        broken_checks = {"recursion-refused", "fcrdns", "dkim-published", "dmarc", "mta-sts", "dns-not-www"}
        failed = _audit_fails(*broken_checks)
        assert broken_checks <= failed <= broken_checks | {"smtp-banner", "mta-sts-certificate"}, failed
    finally:
        restored = lab("deliver")
        assert restored.returncode == 0, restored.stdout[-3000:]
    again = lab("probe", *only, "--only", "audit-outside")
    assert again.returncode == 0, again.stdout
    assert all(_report()[name]["passed"] for name in [*probes, "audit-outside"])


# An operator's hand edit of the db host's MariaDB job: one dump of every database, in the job's own
# directory, with a manifest and the job's closing line, so only the one-file-per-database judgement can fail.
ALL_IN_ONE_MARIADB_JOB = """#!/bin/bash
set -eu -o pipefail
[ "${1-}" = --prepare ] && exit 0
stamp=$(date -u +%Y%m%dT%H%M%SZ)
dir=/var/backups/mariadb/$stamp
mkdir -m 0700 "$dir"
mysqldump --all-databases --single-transaction | gzip -c >"$dir/all-databases-$stamp.sql.gz"
(cd "$dir" && sha256sum -- *) >"$dir/.SHA256SUMS" && mv "$dir/.SHA256SUMS" "$dir/SHA256SUMS"
echo "isp-db-backup-mariadb: every database backed up to $dir" >&2
"""


def test_an_all_in_one_mariadb_dump_made_on_the_host_fails_the_backup_probe(running_lab):
    """Lesson 9 broken by hand on the db host (not through the stack, whose pack would flag it): the MariaDB job
    writes one file of every database. The probe fails naming that file, PostgreSQL's part still passes, and
    `lab deliver` puts the job back."""
    from lab.cli import load_topology
    from lab.hosts import host_run

    db = load_topology("lab").host("db")
    try:
        host_run(db, "cat > /usr/local/sbin/isp-db-backup-mariadb", input_text=ALL_IN_ONE_MARIADB_JOB)
        probe = lab("probe", "--only", "backup-restore")
        assert probe.returncode == 1, probe.stdout
        evidence = _report()["backup-restore"]["evidence"]
        assert all(line.startswith(("postgresql: ", "mariadb: ")) for line in evidence), evidence
        postgresql = [line for line in evidence if line.startswith("postgresql: ")]
        assert len(postgresql) == 8 and not any(line.endswith("<- unexpected") for line in postgresql), evidence
        ran = next(line for line in evidence if line.startswith("mariadb: ran isp-db-backup-mariadb.service"))
        assert "not the delivered one): exit 0" in ran, ran
        files = next(line for line in evidence if line.startswith("mariadb: /var/backups/mariadb/"))
        assert ": 1 dump files, one per database listed (all-databases-" in files, files
        assert files.endswith(".sql.gz)  <- unexpected"), files
        creates = next(line for line in evidence if "CREATE DATABASE statements per file" in line)
        assert "all-databases 4" in creates and creates.endswith("<- unexpected"), creates
        assert any("lab_beta-" in line and "that file alone" in line and line.endswith("<- unexpected")
                   for line in evidence), evidence
    finally:
        restored = lab("deliver")
        assert restored.returncode == 0, restored.stdout[-3000:]
    again = lab("probe", "--only", "backup-restore")
    assert again.returncode == 0, again.stdout
    evidence = _report()["backup-restore"]["evidence"]
    assert any(line.startswith("mariadb: ran ") and "(script sha256 " in line and "as delivered" in line
               for line in evidence), evidence
    assert not any(line.endswith("<- unexpected") for line in evidence), evidence


def test_hand_edits_opening_port_25_and_relaying_fail_their_probes_and_the_audit_until_delivered(running_lab):
    """Lessons 1 and 4 broken by hand, as an operator's quick fix would (the stack never renders either): on the
    gateway a rule accepting TCP/25 ahead of the reject; on the mail host every address trusted as our network
    (an open relay). `port25-egress`, `audit-customer` and `submission-auth` fail with evidence; `lab deliver`
    puts both hosts back and they pass."""
    from lab.cli import load_topology
    from lab.hosts import host_run

    topology = load_topology("lab")
    probes = ["port25-egress", "submission-auth", "audit-customer"]
    only = [word for name in probes for word in ("--only", name)]
    try:
        host_run(topology.host("gw"), "nft insert rule inet filter forward tcp dport 25 accept")
        host_run(topology.host("mail"), "postconf -e 'mynetworks = 0.0.0.0/0' && postfix reload")
        probe = lab("probe", *only)
        assert probe.returncode == 1, probe.stdout
        report = _report()
        assert not any(report[name]["passed"] for name in probes), probe.stdout
        port25 = report["port25-egress"]["evidence"]
        assert any(line.startswith("customer ") and ":25: connected" in line and line.endswith("<- unexpected")
                   for line in port25), port25
        _failed_check(report["audit-customer"]["evidence"], "port25-blocked")
        relay = report["submission-auth"]["evidence"]
        at_25 = relay[relay.index(next(line for line in relay if line.startswith("internet "))):]
        assert any("rcpt to" in line.lower() and " 250" in line for line in at_25), relay
    finally:
        restored = lab("deliver")
        assert restored.returncode == 0, restored.stdout[-3000:]
    again = lab("probe", *only)
    assert again.returncode == 0, again.stdout


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


def test_lab_down_removes_every_namespace_process_and_root(running_lab):
    before, _ = running_lab
    down = lab("down", timeout=120)
    assert down.returncode == 0, down.stderr
    assert _lab_namespaces() == []
    assert not (BUILD / "root").exists()
    assert _machine_state()["links"] == before["links"]
    leftovers = subprocess.run(["pgrep", "-f", "isp-lab"], capture_output=True, text=True, timeout=10).stdout
    assert leftovers.strip() == ""
