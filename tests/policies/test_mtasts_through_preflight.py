"""The MTA-STS policies end to end on a hand-written stack (programs/mtastshand) through preflight: a policy
file delivered by CopyToRemote under an nginx site written by a Command heredoc, Cloudflare records."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from preflight_runs import preflight, violations_of

MTASTSHAND = Path(__file__).parent / "programs" / "mtastshand"
MTA_STS_POLICIES = ("mta-sts-policy-matches-mx", "mta-sts-mx-lines-current", "mta-sts-id-tracks-policy",
                    "mta-sts-valid", "null-mx-no-mta-sts")


def _program(tmp_path: Path, case: str) -> Path:
    project = tmp_path / "mtastshand"
    shutil.copytree(MTASTSHAND, project, ignore=shutil.ignore_patterns("Pulumi.*.yaml", "__pycache__"))
    (project / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": {"mtastshand:case": case}}))
    return project


@pytest.mark.parametrize(("case", "policy", "level", "expected"), [
    ("compliant", None, None, None),
    ("mx-missing", "mta-sts-policy-matches-mx", "mandatory",
     "example.net: MX mx2.example.net (Cloudflare) matches no mx: line of the policy root /var/www/mta-sts (line 7): "
     "/var/www/mta-sts/.well-known/mta-sts.txt on web1.example.net"),
    ("id-by-date", "mta-sts-id-tracks-policy", "advisory",
     "example.net: _mta-sts id=20260101T000000 (Cloudflare) is not derived from the policy"),
    ("bad-tlsrpt", "mta-sts-valid", "advisory",
     "_smtp._tls.example.net (Cloudflare) 'v=TLSRPTv1; rua=tlsrpt@example.net' rua URI 'tlsrpt@example.net' is not "
     "a mailto: or https: URI"),
])
def test_hand_written_mta_sts(tmp_path, case, policy, level, expected):
    status, document, output = preflight(_program(tmp_path, case), "dev", tmp_path)
    assert status == (1 if level == "mandatory" else 0), output
    for name in MTA_STS_POLICIES:
        found = violations_of(document, name)
        if name != policy:
            assert found == [], (name, found)
            continue
        assert found and {v["enforcementLevel"] for v in found} == {level}, found
        assert any(expected in v["message"] for v in found), [v["message"] for v in found]
