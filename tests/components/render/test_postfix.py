"""main.cf and master.cf, read back through Postfix's own parser (`postconf -c DIR`)."""

from __future__ import annotations

import ipaddress
import os
import socket
import time
from pathlib import Path

import pytest

from components.render.postfix import render_postfix_main_cf, render_postfix_master_cf
from components.render.quoting import RenderValueError
from tests.components.render.conftest import assert_rejected
from tests.conftest import require_tool, run_tool

MAIN = dict(
    hostname_fqdn="mail.example.net",
    domain="example.net",
    private_address="10.0.0.25",
    message_size_limit_bytes=26_214_400,
    policy_service="inet:127.0.0.1:8552",
    tls_cert_path="/etc/ssl/isp/mail.example.net/fullchain.pem",
    tls_key_path="/etc/ssl/isp/mail.example.net/privkey.pem",
    own_networks=["10.0.1.0/24"],
    customer_pools=["100.64.0.0/16", "2001:db8:100::/40"],
)
SUBMISSION_SERVICES = {587: "submission", 465: "submissions", 2525: "2525"}


class Postfix:
    """A config directory holding a rendered main.cf and master.cf, queried with postconf."""

    def __init__(self, directory: Path, main_cf: str, master_cf: str) -> None:
        self.postconf = require_tool("postconf")
        self.directory = directory
        for name, text in (("main.cf", main_cf), ("master.cf", master_cf)):
            (directory / name).write_text(text)
            # Postfix waits while a config file's mtime is this very second (it may be mid-write).
            os.utime(directory / name, (time.time() - 10, time.time() - 10))

    def __call__(self, *arguments: str) -> str:
        result = run_tool(self.postconf, "-c", str(self.directory), *arguments)
        # Postfix warns about unknown parameters and malformed entries: none allowed.
        assert result.returncode == 0 and not result.stderr, result.stderr
        return result.stdout

    def value(self, name: str, *, expand: bool = False) -> str:
        return self("-xh" if expand else "-h", name).strip()

    def services(self) -> dict[tuple[str, str], list[str]]:
        """(service, type) -> fields of `postconf -M`, as master(8) will read them."""
        entries = {}
        for line in self("-M").splitlines():
            fields = line.split()
            entries[(fields[0], fields[1])] = fields
        return entries

    def overrides(self) -> dict[str, dict[str, str]]:
        """service/type -> {parameter: value} from `postconf -P` (the -o options)."""
        result: dict[str, dict[str, str]] = {}
        for line in self("-P").splitlines():
            key, _, value = line.partition(" = ")
            service, kind, parameter = key.split("/")
            result.setdefault(f"{service}/{kind}", {})[parameter] = value
        return result


def _postfix(tmp_path, main=None, **master) -> Postfix:
    return Postfix(tmp_path, render_postfix_main_cf(**{**MAIN, **(main or {})}), render_postfix_master_cf(**master))


def test_identity_matches_the_ptr_name_and_the_nat_address(tmp_path):
    postfix = _postfix(tmp_path)
    assert postfix.value("myhostname") == "mail.example.net"
    assert postfix.value("smtpd_banner", expand=True) == "mail.example.net ESMTP"
    assert postfix.value("smtp_helo_name", expand=True) == "mail.example.net"
    assert postfix.value("smtp_bind_address") == "10.0.0.25"
    assert postfix.value("inet_protocols") == "ipv4"
    assert "mail.example.net" in postfix.value("mydestination", expand=True)


def test_ipv6_is_spoken_only_from_a_given_address(tmp_path):
    postfix = _postfix(tmp_path, main={"ipv6_address": "2001:db8:1::25"})
    assert postfix.value("inet_protocols") == "all"
    assert postfix.value("smtp_bind_address6") == "2001:db8:1::25"


def test_maildir_size_limit_and_sasl(tmp_path):
    postfix = _postfix(tmp_path)
    assert postfix.value("home_mailbox").endswith("/")
    assert postfix.value("mail_spool_directory") == "/var/mail"  # the default: never set, never used
    assert "mail_spool_directory" not in postfix("-n")
    assert postfix.value("message_size_limit") == "26214400"
    mailbox_limit = int(postfix.value("mailbox_size_limit"))
    assert mailbox_limit == 0 or mailbox_limit >= 26_214_400
    assert postfix.value("smtpd_sasl_type") == "dovecot"
    assert postfix.value("smtpd_sasl_path") == "private/auth"
    assert postfix.value("smtpd_tls_auth_only") == "yes"
    assert postfix.value("disable_vrfy_command") == "yes"


def test_only_loopback_and_own_servers_relay_without_login(tmp_path):
    postfix = _postfix(tmp_path)
    assert postfix.value("mynetworks").split() == ["127.0.0.0/8", "[::1]/128", "10.0.1.0/24"]
    relay = [step.strip() for step in postfix.value("smtpd_relay_restrictions").split(",")]
    assert relay == ["permit_mynetworks", "permit_sasl_authenticated", "reject_unauth_destination"]


def test_own_networks_may_not_cover_a_customer_pool():
    with pytest.raises(ValueError, match="own_networks"):
        render_postfix_main_cf(**{**MAIN, "own_networks": ["100.64.8.0/24"]})
    with pytest.raises(ValueError, match="own_networks"):
        render_postfix_main_cf(**{**MAIN, "own_networks": ["2001:db8::/32"]})


@pytest.mark.parametrize(
    ("policy_service", "expected"),
    [
        ("inet:127.0.0.1:8552", "inet:127.0.0.1:8552"),
        ("inet:[::1]:8552", "inet:[::1]:8552"),
        ("unix:ratelimit/policy", "unix:ratelimit/policy"),
        ("/var/spool/postfix/ratelimit/policy", "unix:ratelimit/policy"),
    ],
)
def test_daily_limit_policy_is_asked_at_rcpt(tmp_path, policy_service, expected):
    postfix = _postfix(tmp_path, main={"policy_service": policy_service})
    steps = [step.strip() for step in postfix.value("smtpd_recipient_restrictions").split(",")]
    assert f"check_policy_service {expected}" in steps
    # Nothing before it may end the list with a permit (that would skip the count).
    before = steps[: steps.index(f"check_policy_service {expected}")]
    assert not any(step.startswith("permit") for step in before)


def test_policy_socket_outside_the_postfix_chroot_is_refused():
    with pytest.raises(ValueError, match="policy_service"):
        render_postfix_main_cf(**{**MAIN, "policy_service": "/run/policyd/policy.sock"})


def test_sender_login_map_gives_each_address_to_its_own_login(tmp_path):
    postfix = _postfix(tmp_path)
    table = postfix.value("smtpd_sender_login_maps", expand=True)
    postmap = require_tool("postmap")

    def owner(address: str) -> str | None:
        result = run_tool(postmap, "-c", str(tmp_path), "-q", address, table)
        assert result.returncode in (0, 1), result.stderr
        return result.stdout.strip() if result.returncode == 0 else None

    assert owner("alice@example.net") == "alice"
    assert owner("alice+lists@example.net") == "alice"
    assert owner("alice@example.org") is None
    assert owner("alice@sub.example.net") is None
    assert "reject_known_sender_login_mismatch" in postfix.value("smtpd_sender_restrictions")


def test_submission_services_require_sasl(tmp_path):
    postfix = _postfix(tmp_path, submission_ports=[587, 465, 2525])
    services = postfix.services()
    overrides = postfix.overrides()
    main_recipient_restrictions = postfix.value("smtpd_recipient_restrictions")
    for port, name in SUBMISSION_SERVICES.items():
        assert socket.getservbyname(name, "tcp") == port if not name.isdigit() else int(name) == port
        fields = services[(name, "inet")]
        assert fields[7] == "smtpd"
        options = overrides[f"{name}/inet"]
        assert options["smtpd_sasl_auth_enable"] == "yes"
        assert options["smtpd_client_restrictions"] == "permit_sasl_authenticated,reject"
        assert options["smtpd_relay_restrictions"] == "permit_sasl_authenticated,reject"
        assert options["smtpd_tls_security_level"] == "encrypt"
        # The daily limit still applies: recipient restrictions are not overridden per service.
        assert "smtpd_recipient_restrictions" not in options
        assert "check_policy_service" in main_recipient_restrictions
    assert overrides["submissions/inet"]["smtpd_tls_wrappermode"] == "yes"
    assert "smtpd_tls_wrappermode" not in overrides["submission/inet"]
    # Port 25 (MX) stays a plain smtpd, stock Debian services are there.
    assert services[("smtp", "inet")][7] == "smtpd"
    for stock in ("pickup", "cleanup", "qmgr", "local", "smtp", "relay", "anvil"):
        assert any(service == stock for service, _ in services), stock


def test_port_2525_only_when_asked(tmp_path):
    services = _postfix(tmp_path, submission_ports=[587, 465]).services()
    assert ("submission", "inet") in services and ("submissions", "inet") in services
    assert ("2525", "inet") not in services


@pytest.mark.parametrize("ports", [[587], [465, 2525], [587, 465, 25], [587, 465, 465], [587, 465, 2526]])
def test_submission_ports_must_include_587_and_465_and_nothing_else(ports):
    with pytest.raises(ValueError, match="submission_ports"):
        render_postfix_master_cf(submission_ports=ports)


def test_dialup_listeners_carry_the_smaller_size_limit(tmp_path):
    postfix = _postfix(tmp_path, dialup_message_size_limit_bytes=2_000_000, message_size_limit_bytes=26_214_400)
    services, overrides = postfix.services(), postfix.overrides()
    assert overrides["10587/inet"]["message_size_limit"] == "2000000"
    assert overrides["10465/inet"]["message_size_limit"] == "2000000"
    assert overrides["10465/inet"]["smtpd_tls_wrappermode"] == "yes"
    for listener in ("10587/inet", "10465/inet"):
        assert overrides[listener]["smtpd_client_restrictions"] == "permit_sasl_authenticated,reject"
    assert services[("10587", "inet")][7] == "smtpd"
    # The ordinary listeners keep the main limit.
    assert "message_size_limit" not in overrides["submission/inet"]
    assert postfix.value("message_size_limit") == "26214400"


def test_no_dialup_listeners_without_a_dialup_limit(tmp_path):
    services = _postfix(tmp_path).services()
    assert not any(service.isdigit() and service != "2525" for service, _ in services)


def test_dialup_limit_must_be_the_smaller_one_and_ports_must_not_collide():
    with pytest.raises(ValueError, match="dialup_message_size_limit_bytes"):
        render_postfix_master_cf(dialup_message_size_limit_bytes=30_000_000, message_size_limit_bytes=26_214_400)
    with pytest.raises(ValueError, match="dialup_port"):
        render_postfix_master_cf(dialup_message_size_limit_bytes=1_000_000, dialup_port=587)
    with pytest.raises(ValueError, match="dialup_tls_wrapper_port"):
        render_postfix_master_cf(dialup_message_size_limit_bytes=1_000_000, dialup_tls_wrapper_port=10587)


@pytest.mark.parametrize(
    "parameter",
    [
        "hostname_fqdn",
        "domain",
        "private_address",
        "policy_service",
        "tls_cert_path",
        "tls_key_path",
        "message_size_limit_bytes",
    ],
)
def test_main_cf_refuses_injection(parameter):
    assert_rejected(render_postfix_main_cf, MAIN, parameter)


def test_main_cf_refuses_injection_in_lists():
    for parameter in ("own_networks", "customer_pools", "relay_domains"):
        with pytest.raises(ValueError, match=parameter):
            render_postfix_main_cf(**{**MAIN, parameter: ["10.9.0.0/24\nmynetworks = 0.0.0.0/0"]})
        with pytest.raises(ValueError, match=parameter):
            render_postfix_main_cf(**{**MAIN, parameter: "10.9.0.0/24"})  # a bare string, not a list


def test_hostile_values_never_reach_the_file(tmp_path):
    """Sanity of the premise: a newline in a value really would add a directive for Postfix."""
    postfix = Postfix(tmp_path, "myhostname = mail.example.net\nmynetworks = 0.0.0.0/0\n", render_postfix_master_cf())
    assert postfix.value("mynetworks") == "0.0.0.0/0"


def test_master_cf_refuses_injection():
    with pytest.raises(ValueError, match="dialup_message_size_limit_bytes"):
        render_postfix_master_cf(dialup_message_size_limit_bytes="1000\n  -o smtpd_client_restrictions=")
    with pytest.raises(ValueError, match="dialup_port"):
        render_postfix_master_cf(dialup_message_size_limit_bytes=1000, dialup_port="10587 inet n - y - - smtpd")


# ---------------------------------------------------------------------------------------
# Holes the renderer fuzz found (tests/fuzz/test_render_fuzz.py), kept as regressions.


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        # ipaddress objects carry a scope id as freely as text does, and str() writes it out:
        # this one made the mail host an open relay (a later definition wins in main.cf).
        ("ipv6_address", ipaddress.ip_address("2001:db8::25%x\nsmtpd_relay_restrictions = permit")),
        ("own_networks", [ipaddress.ip_network("2001:db8:1::%x\nsmtpd_relay_restrictions = permit/64")]),
        ("ipv6_address", "2001:db8::25%0"),
    ],
)
def test_scope_ids_never_reach_main_cf(parameter, value):
    with pytest.raises(RenderValueError) as refused:
        render_postfix_main_cf(**{**MAIN, parameter: value})
    assert refused.value.parameter.startswith(parameter)


def test_addresses_are_written_canonically(tmp_path):
    """An accepted address is written from the parsed value, as `postconf` reads it back."""
    postfix = _postfix(tmp_path, {"ipv6_address": "2001:DB8:0:0::25", "own_networks": ["2001:DB8:1::/48"]})
    assert postfix.value("smtp_bind_address6") == "2001:db8::25"
    assert "[2001:db8:1::]/48" in postfix.value("mynetworks").split()


def test_opendkim_is_asked_for_every_message_and_mail_flows_when_it_is_down(tmp_path):
    """postconf(5): smtpd_milters for mail received over SMTP (and submission), non_smtpd_milters for local
    submission (sendmail, pickup); milter_default_action accept: the milter down delays nothing."""
    postfix = _postfix(tmp_path, {"dkim_milter_port": 8891})
    assert postfix.value("smtpd_milters") == "inet:localhost:8891"
    assert postfix.value("non_smtpd_milters", expand=True) == "inet:localhost:8891"
    assert postfix.value("milter_default_action") == "accept"


def test_without_signing_no_milter_is_configured(tmp_path):
    postfix = _postfix(tmp_path)
    assert postfix.value("smtpd_milters") == postfix.value("non_smtpd_milters") == ""
    assert postfix.value("milter_default_action") == "tempfail"  # Postfix's default, untouched


@pytest.mark.parametrize("port", [0, 70000, "8891", "8891\nrelayhost = evil"])
def test_a_milter_port_that_is_not_a_port_is_refused(port):
    with pytest.raises(RenderValueError, match="dkim_milter_port"):
        render_postfix_main_cf(**{**MAIN, "dkim_milter_port": port})
