"""policyd-rate-limit's config: loaded by its own loader, then served by the real daemon."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from components.render.postfix import render_postfix_main_cf
from components.render.ratelimit import policy_service_for_postfix, render_ratelimit_config
from tests.components.render.conftest import assert_rejected

SYSTEM_PYTHON = "/usr/bin/python3"
POLICYD_PACKAGE = Path("/usr/lib/python3/dist-packages/policyd_rate_limit")

# Reads a config file with policyd-rate-limit's own loader (no daemon, no privilege drop).
LOAD_WITH_POLICYD = """
import json, sys
from policyd_rate_limit.utils import config
config.setup(sys.argv[1])
names = ["limits", "SOCKET", "limit_by_sasl", "limit_by_sender", "limit_by_ip", "limited_networks",
         "backend", "sqlite_config", "success_action", "fail_action", "db_error_action",
         "limits_by_id", "socket_permission", "user", "group", "pidfile"]
print(json.dumps({name: getattr(config, name) for name in names}))
"""

# Runs the policy server itself on the configured socket (as packaged, minus privilege drop).
SERVE_WITH_POLICYD = """
import sys
from policyd_rate_limit import utils
from policyd_rate_limit.utils import config
from policyd_rate_limit.policyd import Policyd
config.setup(sys.argv[1])
utils.database_init()
server = Policyd()
server.socket()
server.run()
"""


def _require_policyd() -> None:
    if not POLICYD_PACKAGE.is_dir() or not Path(SYSTEM_PYTHON).exists():
        pytest.skip("Debian's policyd-rate-limit is not installed")


def _write(tmp_path: Path, **arguments) -> Path:
    path = tmp_path / "policyd-rate-limit.yaml"
    path.write_text(render_ratelimit_config(**arguments))
    return path


def _load_with_policyd(path: Path) -> dict:
    _require_policyd()
    result = subprocess.run(
        [SYSTEM_PYTHON, "-c", LOAD_WITH_POLICYD, str(path)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_yaml_is_keyed_by_sasl_user(tmp_path):
    data = yaml.safe_load(_write(tmp_path, daily_limit_per_account=200).read_text())
    assert data["limits"] == [[200, 86400]]
    assert data["limit_by_sasl"] is True
    assert data["limit_by_sender"] is False and data["limit_by_ip"] is False
    assert data["backend"] == 0


def test_policyd_loader_reads_what_we_mean(tmp_path):
    config = _load_with_policyd(
        _write(
            tmp_path,
            daily_limit_per_account=150,
            listen="inet:127.0.0.1:8552",
            sqlite_path="/var/lib/policyd-rate-limit/counts.sqlite3",
            per_account_overrides={"newsletter": 1000},
        )
    )
    assert config["limits"] == [[150, 86400]]
    assert config["SOCKET"] == ["127.0.0.1", 8552]  # the loader turns the list into (ip, port)
    assert (config["limit_by_sasl"], config["limit_by_sender"], config["limit_by_ip"]) == (True, False, False)
    assert config["limited_networks"] == []
    assert config["sqlite_config"] == {"database": "/var/lib/policyd-rate-limit/counts.sqlite3"}
    assert config["limits_by_id"] == {"newsletter": [[1000, 86400]]}
    assert config["fail_action"].startswith("defer_if_permit ")
    assert config["db_error_action"].startswith("defer_if_permit ")  # fail closed
    assert config["socket_permission"] == 0o666


def test_unix_socket_is_a_path_for_policyd_and_relative_for_postfix(tmp_path):
    config = _load_with_policyd(_write(tmp_path, daily_limit_per_account=100, listen="unix:ratelimit/policy"))
    assert config["SOCKET"] == "/var/spool/postfix/ratelimit/policy"
    assert policy_service_for_postfix("unix:ratelimit/policy") == "unix:ratelimit/policy"
    assert policy_service_for_postfix("/var/spool/postfix/ratelimit/policy") == "unix:ratelimit/policy"
    assert policy_service_for_postfix("inet:[::1]:8552") == "inet:[::1]:8552"
    with pytest.raises(ValueError, match="listen"):
        policy_service_for_postfix("/run/policyd/policy")


class PolicyClient:
    """Speaks Postfix's policy delegation protocol to a unix socket."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def ask(self, **attributes: str) -> str:
        request = {"request": "smtpd_access_policy", "protocol_state": "RCPT", "protocol_name": "ESMTP", **attributes}
        payload = "".join(f"{key}={value}\n" for key, value in request.items()) + "\n"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(10)
            connection.connect(str(self.path))
            connection.sendall(payload.encode())
            answer = b""
            while not answer.endswith(b"\n\n"):
                chunk = connection.recv(1024)
                assert chunk, "policy server closed the connection"
                answer += chunk
        return answer.decode().strip().removeprefix("action=")


@pytest.fixture
def policy_server(tmp_path):
    """The packaged policy server on a temp socket and database, stopped afterwards."""
    _require_policyd()

    def start(**arguments) -> PolicyClient:
        socket_path = tmp_path / "policy.sock"
        config = _write(tmp_path, listen=str(socket_path), sqlite_path=str(tmp_path / "counts.sqlite3"), **arguments)
        process = subprocess.Popen(
            [SYSTEM_PYTHON, "-c", SERVE_WITH_POLICYD, str(config)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        started.append(process)
        deadline = time.monotonic() + 15
        while not socket_path.exists():
            assert process.poll() is None, process.stderr.read().decode()
            assert time.monotonic() < deadline, "policy server did not open its socket"
            time.sleep(0.05)
        return PolicyClient(socket_path)

    started: list[subprocess.Popen] = []
    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_the_daily_limit_holds_per_sasl_account(policy_server):
    client = policy_server(daily_limit_per_account=3, per_account_overrides={"bulk": 5})
    shared_pool_address = "100.64.1.2"
    for _ in range(3):
        assert client.ask(sasl_username="alice", client_address=shared_pool_address) == "dunno"
    assert client.ask(sasl_username="alice", client_address=shared_pool_address).startswith("defer_if_permit")
    # Another account behind the same address is counted on its own.
    assert client.ask(sasl_username="bob", client_address=shared_pool_address) == "dunno"
    # Unauthenticated mail (inbound from the Internet) is not counted, even from that address.
    for _ in range(5):
        assert client.ask(client_address=shared_pool_address, sender="alice@example.net") == "dunno"
    for _ in range(5):
        assert client.ask(sasl_username="bulk") == "dunno"
    assert client.ask(sasl_username="bulk").startswith("defer_if_permit")


def test_policyd_counts_only_at_rcpt(policy_server):
    """Why main.cf wires it in smtpd_recipient_restrictions: at END-OF-MESSAGE it counts nothing."""
    client = policy_server(daily_limit_per_account=1)
    for _ in range(3):
        assert client.ask(sasl_username="carol", protocol_state="END-OF-MESSAGE") == "dunno"
    assert client.ask(sasl_username="carol") == "dunno"
    assert client.ask(sasl_username="carol").startswith("defer_if_permit")


def test_postfix_and_policyd_agree_on_the_socket(tmp_path):
    """One `listen` string feeds both files; Postfix gets the name it can reach from its chroot."""
    listen = "/var/spool/postfix/ratelimit/policy"
    config = _load_with_policyd(_write(tmp_path, daily_limit_per_account=100, listen=listen))
    main_cf = render_postfix_main_cf(
        hostname_fqdn="mail.example.net",
        domain="example.net",
        private_address="10.0.0.25",
        message_size_limit_bytes=10_240_000,
        policy_service=listen,
        tls_cert_path="/etc/ssl/cert.pem",
        tls_key_path="/etc/ssl/key.pem",
    )
    assert config["SOCKET"] == listen
    assert "check_policy_service unix:ratelimit/policy" in main_cf


@pytest.mark.parametrize("limit", [0, -5, 10**9, "150", True, 1.5])
def test_limit_must_be_a_sane_count(limit):
    with pytest.raises(ValueError, match="daily_limit_per_account"):
        render_ratelimit_config(daily_limit_per_account=limit)


@pytest.mark.parametrize("parameter", ["listen", "sqlite_path", "pidfile", "user", "group"])
def test_refuses_injection(parameter):
    assert_rejected(render_ratelimit_config, {"daily_limit_per_account": 150}, parameter)


def test_refuses_injection_in_override_names():
    for hostile in ['x"\nlimit_by_sasl: False\n"y', "a: b", "{x}", "$(reboot)"]:
        with pytest.raises(ValueError, match="per_account_overrides"):
            render_ratelimit_config(daily_limit_per_account=150, per_account_overrides={hostile: 10})


def test_policy_socket_path_fits_sun_path():
    """A found hole (tests/fuzz/test_render_fuzz.py): a unix socket path longer than sun_path (107
    bytes and the NUL) was rendered, and neither policyd-rate-limit nor Postfix could use it."""
    longest = "/var/spool/postfix/" + "x" * 88
    assert len(longest) == 107
    assert policy_service_for_postfix(longest) == "unix:" + "x" * 88
    with pytest.raises(ValueError, match="listen"):
        render_ratelimit_config(daily_limit_per_account=100, listen=longest + "y")
    with pytest.raises(ValueError, match="policy_service"):
        render_postfix_main_cf(hostname_fqdn="mail.example.net", domain="example.net", private_address="10.0.0.25",
                               message_size_limit_bytes=1000, policy_service=longest + "y",
                               tls_cert_path="/c.pem", tls_key_path="/k.pem")
