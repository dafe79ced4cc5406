"""The stack's servers as lab hosts: a root of their own, the daemons Debian would run, a way in.

A lab host is its network namespace plus a mount namespace held by one small process (its
pid in `<root>/host.pid`), in which the machine's /etc, /var, /home and /usr/local are overlays
whose upper layers are `<root>/etc`, `<root>/var`, ... and /run and /tmp are fresh tmpfs. So a
host looks like a freshly installed Debian server: it sees the machine's packages and their
stock configuration, and everything it writes (our rendered files, queues, mailboxes, logs)
lands under its root and nowhere else. The mounts exist only in that namespace and vanish with
its last process.

Bring-up then does what installing the packages does on a real server: the stock daemons
start with their stock configuration (Debian's postinst would have made Dovecot's
certificate), the host gets a resolver, a mail account (password generated here, never
printed), and self-signed stand-ins for the certificates our rendered configs name (the lab
has no ACME). Only then does the stack's delivery replace the configuration and reload.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from lab.deploy import Plan
from lab.settings import LabError
from lab.system import BUILD_DIR, run, start_detached, wait_for
from lab.topology import LabHost, Topology

SYSTEMCTL = Path(__file__).with_name("systemctl.sh")
SECRETS_DIR = BUILD_DIR / "secrets"
PIDS_DIR = BUILD_DIR / "pids"

_HOLD = """\
set -eu
root=$1
for layer in etc var home usr/local; do
  work="$root/.work/$(echo "$layer" | tr / -)"
  mkdir -p "$root/$layer" "$work"
  mount -t overlay isp-lab-host -o "lowerdir=/$layer,upperdir=$root/$layer,workdir=$work" "/$layer"
done
mount -t tmpfs -o mode=0755,size=64m isp-lab-run /run
mkdir -p -m 1777 /run/lock
mount -t tmpfs -o mode=1777,size=256m isp-lab-tmp /tmp
echo ready
exec sleep infinity
"""

# Certificates named by the rendered configs: (certificate, key) patterns per file kind.
_CERT_PATTERNS = (
    (re.compile(r"^\s*ssl_certificate\s+(\S+);", re.M), re.compile(r"^\s*ssl_certificate_key\s+(\S+);", re.M)),
    (re.compile(r"^smtpd_tls_cert_file\s*=\s*(\S+)", re.M), re.compile(r"^smtpd_tls_key_file\s*=\s*(\S+)", re.M)),
    (re.compile(r"^ssl_cert\s*=\s*<(\S+)", re.M), re.compile(r"^ssl_key\s*=\s*<(\S+)", re.M)),
)
_WEB_ROOT = re.compile(r"^\s*root\s+(/\S+);", re.M)
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/+@-]+$")


def host_argv(host: LabHost, script: str) -> list[str]:
    """argv running `script` inside `host`, exactly as the stack's local transport runs its commands."""
    return [*host.connection().interpreter(), script]


def host_run(host: LabHost, script: str, *, input_text: str | None = None, timeout: float = 60,
             check: bool = True) -> subprocess.CompletedProcess:
    return run(host_argv(host, script), input_text=input_text, timeout=timeout, check=check)


def holder_alive(host: LabHost) -> bool:
    """The transport's own check: host.pid is in this network namespace and its /etc is our overlay."""
    try:
        pid = int(Path(host.root, "host.pid").read_text().strip())
        netns = os.stat(f"/run/netns/{host.namespace}").st_ino
        if os.readlink(f"/proc/{pid}/ns/net") != f"net:[{netns}]":
            return False
        upper = f"upperdir={host.root}/etc,"
        for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
            fields = line.split()
            if fields[4] == "/etc" and " - overlay " in line and upper in line:
                return True
        return False
    except (OSError, ValueError, IndexError):
        return False


def start_holder(host: LabHost) -> int:
    root = Path(host.root)
    root.mkdir(parents=True, exist_ok=True)
    pid = start_detached(["ip", "netns", "exec", host.namespace, "/bin/sh", "-c", _HOLD, "isp-lab-host", str(root)],
                         log=BUILD_DIR / "logs" / f"{host.name}.holder.log",
                         what=f"{host.name}: its file systems", ready_timeout=10)
    (root / "host.pid").write_text(f"{pid}\n")
    PIDS_DIR.mkdir(parents=True, exist_ok=True)
    (PIDS_DIR / f"{host.name}.holder.pid").write_text(f"{pid}\n")
    return pid


def account_password(name: str) -> Path:
    """The test account's password file (0600, generated once per lab); its content is never printed."""
    SECRETS_DIR.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = SECRETS_DIR / f"{name}.password"
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(18))
    return path


def certificates(plan: Plan, host: LabHost) -> list[tuple[str, str]]:
    """(certificate, key) paths the rendered files for `host` name, in the order they appear."""
    pairs: list[tuple[str, str]] = []
    for text in plan.files_for(host.fqdn).values():
        for cert_re, key_re in _CERT_PATTERNS:
            for cert, key in zip(cert_re.findall(text), key_re.findall(text), strict=False):
                if (cert, key) not in pairs and _SAFE_PATH.match(cert) and _SAFE_PATH.match(key):
                    pairs.append((cert, key))
    return pairs


def web_roots(plan: Plan, host: LabHost) -> list[str]:
    roots = []
    for path, text in plan.files_for(host.fqdn).items():
        if "/nginx/" in path:
            roots += [r for r in _WEB_ROOT.findall(text) if _SAFE_PATH.match(r) and r not in roots]
    return roots


def _certificate_script(pairs: Iterable[tuple[str, str]]) -> str:
    lines = []
    for cert, key in pairs:
        name = Path(cert).parent.name  # /etc/ssl/isp/<name>/fullchain.pem: the name it is for
        lines.append(
            f'[ -s {cert} ] || {{ mkdir -p "$(dirname {cert})" "$(dirname {key})" && '
            f"openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 "
            f'-subj "/CN={name}" -addext "subjectAltName=DNS:{name}" -keyout {key} -out {cert} 2>/dev/null && '
            f"chmod 600 {key}; }}"
        )
    return "\n".join(lines)


def provision_script(topology: Topology, host: LabHost, plan: Plan) -> str:
    """What a fresh Debian server with the packages installed looks like, for this host (idempotent)."""
    cfg, lab = topology.stack.cfg, topology.stack.lab
    resolver = cfg.hosts_with("dns")[0].private_address
    own = next(h for h in cfg.hosts if cfg.fqdn(h) == host.fqdn)
    lines = [
        "set -eu",
        "install -d -m 0755 /var/log/isp-lab",
        # The lab's own systemctl (see lab/systemctl.sh): there is no systemd in a namespace.
        "install -m 0755 /dev/stdin /usr/local/sbin/systemctl",
        "rm -f /etc/resolv.conf",
        f"printf 'search {cfg.organization.domain}\\nnameserver {resolver}\\noptions timeout:2 attempts:2\\n'"
        " > /etc/resolv.conf",
        f"printf '%s\\n' {host.fqdn} > /etc/hostname",
        f"printf '127.0.0.1\\tlocalhost\\n{own.private_address}\\t{host.fqdn} {own.name}\\n' > /etc/hosts",
    ]
    if "mail" in host.roles:
        account = lab.mail_account
        lines += [
            f"printf '%s\\n' {host.fqdn} > /etc/mailname",
            f"id {account} >/dev/null 2>&1 || useradd --create-home --shell /usr/sbin/nologin {account}",
            # Debian's dovecot-core makes this certificate when it is installed; its stock config needs it.
            _certificate_script([("/etc/dovecot/private/dovecot.pem", "/etc/dovecot/private/dovecot.key")]),
            "newaliases",
        ]
    if "db" in host.roles:
        # What installing Debian's postgresql does: a cluster named main (the machine's own, seen
        # through the overlay, when it has one), owned by postgres; the lab's systemctl starts it.
        lines.append("ls /etc/postgresql/*/main/postgresql.conf >/dev/null 2>&1 || "
                     "pg_createcluster \"$(ls /usr/lib/postgresql | sort -V | tail -n 1)\" main >/dev/null")
        if "mariadb" in host.services:
            # What installing Debian's mariadb-server does: the system tables in /var/lib/mysql (the machine's
            # own, seen through the overlay, when it has them), owned by mysql; root gets in by unix_socket.
            lines.append("[ -e /var/lib/mysql/mysql/global_priv.frm ] || mariadb-install-db --user=mysql "
                         "--datadir=/var/lib/mysql --skip-test-db --auth-root-authentication-method=socket "
                         ">/dev/null")
    lines.append(_certificate_script(certificates(plan, host)))
    for web_root in web_roots(plan, host):  # a PHP application's root (Roundcube's) keeps its own index
        lines.append(f"mkdir -p {web_root} && {{ [ -e {web_root}/index.php ] || [ -s {web_root}/index.html ]; }} || "
                     f"printf '<h1>{host.fqdn} (lab)</h1>\\n' > {web_root}/index.html")
    return "\n".join(lines) + "\n"


LAB_CA_TRUSTED = "/usr/local/share/ca-certificates/isp-lab-ca.crt"
# The lab CA in the host's system store, as an operator with their own CA installs it (Debian's
# ca-certificates): update-ca-certificates adds it to /etc/ssl/certs, which PHP's OpenSSL reads.
_TRUST_CA = f"""\
set -eu
new=$(mktemp)
cat > "$new"
if ! cmp -s "$new" {LAB_CA_TRUSTED} || ! [ -e /etc/ssl/certs/isp-lab-ca.pem ]; then
  install -D -m 0644 "$new" {LAB_CA_TRUSTED}
  update-ca-certificates >/dev/null
fi
rm -f "$new"
"""


def trust_lab_ca(host: LabHost) -> None:
    """The lab CA (lab/pki.py) trusted by the host's system store: Roundcube verifies the mail host's
    certificate (issued by the lab CA, lab/mailauth_setup.py) on IMAPS and submission."""
    from lab.pki import LAB_CA

    host_run(host, _TRUST_CA, input_text=LAB_CA.read_text())


def ensure_hosts(topology: Topology, plan: Plan) -> list[str]:
    """Holders, provisioning and the stock daemons for every server; returns what it started."""
    (BUILD_DIR / "logs").mkdir(parents=True, exist_ok=True)
    started = []
    for host in topology.hosts:
        if not host.is_server:
            continue
        if not holder_alive(host):
            start_holder(host)
            started.append(f"{host.name}: file systems")
        host_run(host, provision_script(topology, host, plan), input_text=SYSTEMCTL.read_text())
        if "mail" in host.roles:
            account = topology.stack.lab.mail_account
            password = account_password(account).read_text().strip()
            # chpasswd reads the pair on stdin: the password is in no argv and no output.
            host_run(host, "chpasswd", input_text=f"{account}:{password}\n")
            install_mail_certificates(host, certificates(plan, host))
        if "webmail" in host.roles:
            trust_lab_ca(host)
        for service in host.services:
            state = host_run(host, f"systemctl is-active {service}", check=False).stdout.strip()
            if state != "active":
                host_run(host, f"systemctl start {service}", timeout=60)
                started.append(f"{host.name}: {service}")
    return started


def install_mail_certificates(host: LabHost, pairs: Iterable[tuple[str, str]]) -> None:
    """The mail host's own certificate from the lab CA in place of the stand-in (lab/mailauth_setup.py):
    what an MTA-STS sender trusting the lab CA can verify on STARTTLS."""
    from lab.mailauth_setup import install_mail_certificate_script, mail_host_certificate

    for cert, key in pairs:
        if Path(cert).parent.name == host.fqdn:
            pem, private = mail_host_certificate(host.fqdn)
            host_run(host, install_mail_certificate_script(cert, key), input_text=pem + private)


def wait_until_listening(host: LabHost, port: int, timeout: float = 15) -> None:
    probe = f"python3 -c \"import socket; socket.create_connection(('127.0.0.1', {port}), 1).close()\""
    wait_for(lambda: host_run(host, probe, check=False, timeout=10).returncode == 0, timeout=timeout,
             what=f"{host.name}: nothing listens on port {port}")


def wait_for_socket(host: LabHost, path: str, timeout: float = 15) -> None:
    wait_for(lambda: host_run(host, f"test -S {path}", check=False, timeout=10).returncode == 0,
             timeout=timeout, what=f"{host.name}: socket {path} did not appear")


def remove_roots(build_dir: Path = BUILD_DIR) -> None:
    """Delete the hosts' roots, after making sure nothing is mounted below the build directory."""
    roots = build_dir / "root"
    if not roots.exists():
        return
    resolved = str(roots.resolve())
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        mount_point = line.split()[4]
        if mount_point == resolved or mount_point.startswith(resolved + "/"):
            raise LabError(f"{mount_point} is still mounted; not deleting {roots}")
    shutil.rmtree(roots)
