"""Property-based: no value can add a line, and so no directive, to a rendered file.

Each renderer is called with valid arguments, then with one string argument replaced by
arbitrary text: it either refuses (ValueError naming the parameter) or renders a file with
exactly the lines the valid one had. A sample of the accepted results is handed to the
real checker too.
"""

from __future__ import annotations

import subprocess
from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from components.render.bind import ZoneEntry, ZoneRecord, render_named_conf, render_zone_file
from components.render.dovecot import render_dovecot_conf
from components.render.nftables import render_gateway_ruleset
from components.render.nginx import render_nginx_site
from components.render.postfix import render_postfix_main_cf, render_postfix_master_cf
from components.render.ratelimit import render_ratelimit_config
from tests.conftest import require_tool

RENDERERS = {
    "named.conf": (
        render_named_conf,
        dict(
            own_networks=["10.20.0.0/24"],
            recursion_clients=["10.20.0.0/24"],
            transfer_peers=["10.20.0.12"],
            zones=[ZoneEntry("pool.example.net", "/etc/bind/zones/db.pool.example.net")],
        ),
    ),
    "zone": (
        render_zone_file,
        dict(
            origin="example.net",
            primary_ns="ns1.example.net",
            hostmaster="hostmaster@example.net",
            nameservers=["ns1.example.net"],
            records=[ZoneRecord("www", "A", "192.0.2.1")],
            today=date(2026, 11, 24),
        ),
    ),
    "main.cf": (
        render_postfix_main_cf,
        dict(
            hostname_fqdn="mail.example.net",
            domain="example.net",
            private_address="10.20.0.25",
            message_size_limit_bytes=26214400,
            policy_service="unix:ratelimit/policy",
            tls_cert_path="/etc/ssl/isp/mail.example.net/fullchain.pem",
            tls_key_path="/etc/ssl/isp/mail.example.net/privkey.pem",
            own_networks=["10.20.0.0/24"],
            customer_pools=["203.0.113.0/25"],
        ),
    ),
    "master.cf": (render_postfix_master_cf, dict(submission_ports=[587, 465])),
    "dovecot.conf": (
        render_dovecot_conf,
        dict(hostname_fqdn="mail.example.net", tls_cert_path="/etc/ssl/a.pem", tls_key_path="/etc/ssl/a.key"),
    ),
    "ratelimit": (render_ratelimit_config, dict(daily_limit_per_account=100)),
    "nftables": (
        render_gateway_ruleset,
        dict(
            wan_interface="eth0",
            lan_interfaces=["eth1", "eth2"],
            customer_pools=["203.0.113.0/25"],
            server_networks=["10.20.0.0/24"],
            mail_hosts=[("10.20.0.25", "198.51.100.25")],
            public_address="198.51.100.1",
        ),
    ),
    "nginx": (
        render_nginx_site,
        dict(
            server_name="www.example.net",
            role="www",
            root="/var/www/www.example.net",
            tls_cert_path="/etc/ssl/www.pem",
            tls_key_path="/etc/ssl/www.key",
        ),
    ),
}
STRING_PARAMS = [
    (kind, key) for kind, (_, kwargs) in RENDERERS.items() for key, value in kwargs.items() if isinstance(value, str)
]
LIST_PARAMS = [
    (kind, key)
    for kind, (_, kwargs) in RENDERERS.items()
    for key, value in kwargs.items()
    if isinstance(value, list) and value and isinstance(value[0], str)
]
HOSTILE = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "a\nb",
            "x;",
            "}",
            "{",
            '"',
            "$(reboot)",
            "`id`",
            "a b",
            "#",
            "\\",
            "\r",
            "\x00",
            "../..",
            "example.net\n",
            "10.0.0.0/8; any",
            "any",
            "*",
            "%s",
            "${x}",
            "$myhostname",
        ]
    ),
)


def _lines(text: str) -> int:
    return text.count("\n")


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(STRING_PARAMS + LIST_PARAMS), HOSTILE)
def test_one_hostile_value_never_adds_a_line(target, hostile):
    kind, key = target
    render, base = RENDERERS[kind]
    expected = _lines(render(**base))
    kwargs = dict(base)
    kwargs[key] = [hostile] if isinstance(base[key], list) else hostile
    try:
        text = render(**kwargs)
    except ValueError as error:
        assert key in str(error) or key.rstrip("s") in str(error), f"{kind}: {error} does not name {key}"
        return
    assert _lines(text) == expected, f"{kind}.{key}={hostile!r} changed the file's shape"
    assert "\x00" not in text and "\r" not in text


@pytest.mark.parametrize("value", ["ns1.example.net", "10.0.0.0/8", "example.net.", "0.0.0.0/0"])
def test_accepted_values_still_pass_named_checkconf(tmp_path, value):
    checkconf = require_tool("named-checkconf")
    kwargs = dict(RENDERERS["named.conf"][1])
    kwargs["recursion_clients"] = [value] if "/" in value else kwargs["recursion_clients"]
    path = tmp_path / "named.conf"
    path.write_text(render_named_conf(**kwargs))
    result = subprocess.run([checkconf, str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout
