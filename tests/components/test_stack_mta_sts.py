"""The plan's MTA-STS policy hosts (RFC 8461 §3.3): the first `web` host serves https://mta-sts.<D>/ for
every hosted mail domain D, with the policy the zones' _mta-sts id is computed from."""

from __future__ import annotations

from components.config import parse_stack_config
from components.stack import plan_stack
from components.web_host import WebHost, WebHostArgs
from tests.components.test_web_host_mta_sts import _provided_pem


def _plan(values: dict) -> dict[str, WebHostArgs]:
    plan = plan_stack(parse_stack_config(values), lambda key: f"<secret {key}>", stack="prod",
                      stack_file="Pulumi.prod.yaml")
    return {p.name: p.args for p in plan.components if p.component is WebHost}


def _with_mta_sts(values: dict, mta_sts: dict) -> dict:
    values["mail"] = {**values["mail"], "mtaSts": mta_sts}
    return values


def _policy_of(text: str) -> dict[str, list[str]]:
    """RFC 8461 §3.2: `key: value` lines; mx may repeat."""
    fields: dict[str, list[str]] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), []).append(value.strip())
    return fields


def test_without_mta_sts_no_policy_host(prod_values):
    values = {**prod_values, "mail": {k: v for k, v in prod_values["mail"].items() if k != "mtaSts"}}
    assert all(args.mta_sts == [] for args in _plan(values).values())


def test_the_first_web_host_serves_every_hosted_mail_domain(prod_values):
    web = next(h["name"] for h in prod_values["hosts"] if "web" in h["roles"])
    hosts = _plan(_with_mta_sts(prod_values, {"mode": "enforce", "maxAge": 86400}))
    sites = {site.name: site for site in hosts[web].mta_sts}
    # example.net is organization.domain; example.com's apex MX names our mail host (prod's zones).
    assert set(sites) == {"mta-sts.example.net", "mta-sts.example.com"}
    for site in sites.values():
        policy = _policy_of(site.policy)
        assert policy["version"] == ["STSv1"] and policy["mode"] == ["enforce"] and policy["max_age"] == ["86400"]
        assert policy["mx"] == ["mail.example.net"]
        assert site.certificate.source == "acme" and site.acme_email == "hostmaster@example.net"
        assert site.private_key is None
    assert all(args.mta_sts == [] for name, args in hosts.items() if name != web)
    rendered = hosts[web].rendered
    assert [c.name for c in rendered.mta_sts_certificates] == [site.name for site in hosts[web].mta_sts]


def test_a_provided_certificate_reads_the_mta_sts_key_secret(prod_values):
    pem = _provided_pem(["mta-sts.example.net", "mta-sts.example.com"])
    hosts = _plan(_with_mta_sts(prod_values, {"certificate": {"source": "provided", "certificatePem": pem}}))
    sites = [site for args in hosts.values() for site in args.mta_sts]
    assert sites and all(site.private_key == "<secret mtaStsTlsKey>" for site in sites)
    assert all(site.cloudflare_token is None for site in sites)
