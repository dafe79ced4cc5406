"""Lessons 9 and 10 end to end through preflight: the hand-written stack's other ways to break
them, and copies of our prod stack whose webmail certificate or database engine changes."""

from __future__ import annotations

import pytest
from pack_builders import pem
from preflight_runs import handmade, host_config, preflight, prod_copy, violations_of

KEY = {"secure": "v1:dGxzLWtleQAAAAAAAAAAAA==:dGxzLWtleS1wbGFjZWhvbGRlcg=="}


@pytest.mark.parametrize(("broken", "policy", "code", "fragment"), [
    (["webmail-plain-http"], "webmail-certificate-matches", 1, "serves webmail over plain HTTP (port 80)"),
    (["webmail-acme-wrong-name"], "webmail-certificate-matches", 1,
     "asks the CA for www.example.net for the certificate /etc/letsencrypt/live/webmail.example.net/fullchain.pem"),
    (["no-db-backup"], "one-dump-per-database", 0, "database host db1.example.net (PostgreSQL config "
                                                   "/etc/postgresql/15/main/postgresql.conf) has no scheduled"),
    (["webmail-acme"], None, 0, None),
])
def test_handmade_variants(tmp_path, broken, policy, code, fragment):
    status, document, output = preflight(handmade(tmp_path, "prod", broken), "prod", tmp_path)
    assert status == code, output
    if policy is None:
        assert document["violations"] == [], document["violations"]
        return
    found = violations_of(document, policy)
    assert [v["policy"] for v in document["violations"]] == [policy] * len(found)
    assert any(fragment in v["message"] for v in found), found


def _provided(names: list[str]):
    def mutate(config: dict) -> None:
        config["isp:webmail"] = {"certificate": {"source": "provided", "certificatePem": pem(names)}}
        config["isp:webmailTlsKey"] = KEY
    return mutate


def test_prod_with_a_provided_certificate_for_another_name_is_blocked(tmp_path):
    code, document, output = preflight(prod_copy(tmp_path, _provided(["www.example.net"])), "prod", tmp_path)
    assert code == 1, output
    (violation,) = violations_of(document, "webmail-certificate-matches")
    assert violation["enforcementLevel"] == "mandatory"
    assert ("the certificate /etc/ssl/isp/webmail.example.net/fullchain.pem on www.example.net names "
            "www.example.net but the site serves webmail.example.net") in violation["message"]
    assert "[mandatory] webmail-certificate-matches" in output


def test_prod_with_matching_certificate_and_mariadb_passes(tmp_path):
    def mutate(config: dict) -> None:
        _provided(["webmail.example.net"])(config)
        host_config(config, "db1")["database"] = {"engine": "mariadb", "retentionDays": 30}

    code, document, output = preflight(prod_copy(tmp_path, mutate), "prod", tmp_path)
    assert code == 0, output
    assert document["violations"] == []
    # Both policies judged the stack (neither said "not applicable").
    judged = {"one-dump-per-database", "webmail-certificate-matches"}
    assert not [n for n in document.get("notApplicable", []) if n.get("policy") in judged]
    # The key is a secret: preflight writes the certificate for real checkers, never the key.
    written = {p.name for p in (tmp_path / "build").rglob("*.pem")}
    assert written == {"fullchain.pem"}
