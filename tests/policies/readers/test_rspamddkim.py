"""rspamd's dkim_signing module settings in UCL, as its documentation and operators write them."""

from __future__ import annotations

from pack_builders import PACK_DIR  # noqa: F401 - puts the pack on sys.path
from readers import rspamddkim

# The documentation's "sign all domains" example (local.d/dkim_signing.conf).
ALL_DOMAINS = """# local.d/dkim_signing.conf
allow_username_mismatch = true;
path = "/var/lib/rspamd/dkim/$domain.$selector.key";
selector = "s2026a";
"""

PER_DOMAIN = """/* one key per domain */
sign_authenticated = true
domain {
  example.org {
    path = "/var/lib/rspamd/dkim/example.org.key";
    selector: "mail";
  }
  customer.org {
    selectors [
      { path: "/var/lib/rspamd/dkim/customer.rsa.key"; selector: "rsa2026"; },
      { path = /var/lib/rspamd/dkim/customer.ed.key; selector = "ed2026" }
    ]
  }
}
try_fallback = false;
"""


def test_templates_sign_every_domain() -> None:
    signing = rspamddkim.read([ALL_DOMAINS])
    assert signing.enabled and signing.sign_authenticated
    assert signing.keys_for("example.org") == [
        rspamddkim.KeyRef("s2026a", "/var/lib/rspamd/dkim/example.org.s2026a.key")]


def test_defaults_without_a_file() -> None:
    assert rspamddkim.read([]).keys_for("example.org") == [
        rspamddkim.KeyRef("dkim", "/var/lib/rspamd/dkim/example.org.dkim.key")]


def test_domain_blocks_selectors_and_no_fallback() -> None:
    signing = rspamddkim.read([PER_DOMAIN])
    assert signing.keys_for("example.org") == [rspamddkim.KeyRef("mail", "/var/lib/rspamd/dkim/example.org.key")]
    assert signing.keys_for("customer.org") == [
        rspamddkim.KeyRef("rsa2026", "/var/lib/rspamd/dkim/customer.rsa.key"),
        rspamddkim.KeyRef("ed2026", "/var/lib/rspamd/dkim/customer.ed.key")]
    assert signing.keys_for("other.test") == []


def test_override_wins_and_flags_turn_off() -> None:
    signing = rspamddkim.read([ALL_DOMAINS, "enabled = false;\nsign_authenticated = no;\n"])
    assert not signing.enabled and not signing.sign_authenticated
    assert signing.settings["selector"] == "s2026a"


def test_includes_are_listed_not_followed() -> None:
    signing = rspamddkim.read(['.include(try=true,priority=1) "$LOCAL_CONFDIR/local.d/dkim_keys.conf"\n'
                               'selector = "x";\n'])
    assert signing.macros == ('.include(try=true,priority=1) "$LOCAL_CONFDIR/local.d/dkim_keys.conf"',)
    assert signing.settings == {"selector": "x"}


def test_proxy_ports() -> None:
    assert rspamddkim.proxy_ports([]) == [11332]
    assert rspamddkim.proxy_ports(['bind_socket = "127.0.0.1:11339";\nmilter = yes;\n']) == [11339]
