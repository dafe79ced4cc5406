"""Lessons 8 and 10 end to end through preflight, on a hand-written stack in each web server dialect
(tests/policies/programs/webhosts): Apache, Caddy, lighttpd and nginx as operators write them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from preflight_runs import preflight, violations_of

WEBHOSTS = Path(__file__).parent / "programs" / "webhosts"
LESSONS = ("dns-not-cohosted-with-web", "webmail-certificate-matches")


def _program(tmp_path: Path, case: str) -> Path:
    project = tmp_path / "webhosts"
    shutil.copytree(WEBHOSTS, project, ignore=shutil.ignore_patterns("Pulumi.*.yaml", "__pycache__"))
    (project / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": {"webhosts:case": case}}))
    return project


@pytest.mark.parametrize(("case", "policy", "fragment"), [
    ("apache-www-cert", "webmail-certificate-matches",
     "the certificate /etc/ssl/certs/webmail.example.net.pem on web1.example.net names www.example.net but the site "
     "serves webmail.example.net: browsers will warn every user; use a certificate whose SAN covers "
     "webmail.example.net [/etc/apache2/sites-available/webmail.conf on web1.example.net (<VirtualHost *:443> at line "
     "7, webmail.example.net)]"),
    ("apache-on-ns", "dns-not-cohosted-with-web",
     "host ns1.example.net (198.51.100.53) receives a DNS server config (/etc/bind/named.conf.options) and installs "
     "bind9 (command ns-setup on ns1.example.net) and starts named (command ns-setup on ns1.example.net) and "
     "installs apache2 (command ns-setup on ns1.example.net); DNS and WWW must run on different hosts"),
    ("nginx-snippet-www-cert", "webmail-certificate-matches",
     "the certificate /etc/ssl/web/www.pem on web1.example.net names www.example.net but the site serves "
     "webmail.example.net"),
    ("caddy-auto", None, None),
    ("lighttpd-wildcard", None, None),
])
def test_web_dialects(tmp_path, case, policy, fragment):
    code, document, output = preflight(_program(tmp_path, case), "dev", tmp_path)
    judged = {policy_id: violations_of(document, policy_id) for policy_id in LESSONS}
    if policy is None:
        assert code == 0, output
        assert judged == {policy_id: [] for policy_id in LESSONS}, judged
        # Both lessons were judged, not skipped as not applicable.
        assert not [n for n in document.get("notApplicable", []) if n.get("policy") in LESSONS], document
        return
    assert code == 1, output
    (violation,) = judged[policy]
    assert violation["enforcementLevel"] == "mandatory"
    assert fragment in violation["message"], violation["message"]
    assert [v for p, found in judged.items() if p != policy for v in found] == []
