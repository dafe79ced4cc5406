"""The DKIM policies end to end on a hand-written signing mail host (programs/dkimhand) through preflight.

The private key is a secret config value: preflight cannot decrypt it and hands the pack a placeholder, so
the key's match with p= is not judged there, while a missing record and a domain left unsigned are, and
the key text appears in no report."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from preflight_runs import preflight, violations_of

DKIMHAND = Path(__file__).parent / "programs" / "dkimhand"
POLICIES = ("dmarc-enforcement-needs-dkim", "dkim-record-matches-signing-key")
LABEL = "mail.example.net (198.51.100.25)"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PUBLIC = base64.b64encode(_KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).decode()


def _program(tmp_path: Path, case: str) -> Path:
    project = tmp_path / "dkimhand"
    shutil.copytree(DKIMHAND, project, ignore=shutil.ignore_patterns("Pulumi.*.yaml", "__pycache__"))
    # An encrypted value this machine cannot decrypt: preflight substitutes a placeholder, as for any secret.
    config = {"dkimhand:case": case, "dkimhand:dkimPublicKey": PUBLIC,
              "dkimhand:dkimPrivateKey": {"secure": "v1:bm90LWEtcmVhbC1rZXk=:c2VjcmV0LWNpcGhlcnRleHQ="}}
    (project / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": config}))
    return project


@pytest.mark.parametrize(("case", "policy", "expected"), [
    ("signed", None, None),
    ("dmarc-none", None, None),
    ("no-milter", "dmarc-enforcement-needs-dkim",
     f"example.org publishes DMARC p=reject (_dmarc.example.org) and its MX names {LABEL}, which does not DKIM-sign "
     "its mail: its Postfix (/etc/postfix/main.cf) reaches no DKIM signer"),
    ("no-record", "dkim-record-matches-signing-key",
     f"OpenDKIM (/etc/opendkim.conf on {LABEL}) signs mail of example.org with selector s2026a, but publishes no "
     "DKIM key at s2026a._domainkey.example.org (Cloudflare)"),
])
def test_hand_written_signing_host(tmp_path, case, policy, expected):
    status, document, output = preflight(_program(tmp_path, case), "dev", tmp_path)
    for name in POLICIES:
        found = violations_of(document, name)
        if name != policy:
            assert found == [], (name, found)
            continue
        assert found and {v["enforcementLevel"] for v in found} == {"mandatory"}, found
        assert any(expected in v["message"] for v in found), [v["message"] for v in found]
    assert (status == 0) is (policy is None), output
    if case == "signed":  # the key is a placeholder here: its match with p= waits for the real engine
        reasons = [n["reason"] for n in document["notApplicable"] if n["policy"] == "dkim-record-matches-signing-key"]
        assert any("/etc/dkimkeys/s2026a.private is not readable PEM here" in r for r in reasons), reasons
    assert "c2VjcmV0LWNpcGhlcnRleHQ" not in json.dumps(document)
