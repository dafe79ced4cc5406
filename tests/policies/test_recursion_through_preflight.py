"""Lessons 3 and 5 end to end through preflight, on a name server configured by hand the Debian way
(programs/bindsplit): BIND's configuration joined across the files a host receives, what the pack
cannot see reported as not judged, and an RFC 2317 PTR reached through a CNAME."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from preflight_runs import preflight, violations_of

BINDSPLIT = Path(__file__).parent / "programs" / "bindsplit"


def _bindsplit(tmp_path: Path, case: str) -> Path:
    project = tmp_path / "bindsplit"
    shutil.copytree(BINDSPLIT, project, ignore=shutil.ignore_patterns("Pulumi.*.yaml", "__pycache__"))
    (project / "Pulumi.dev.yaml").write_text(yaml.safe_dump({"config": {"bindsplit:case": case}}))
    return project


def _not_judged(document: dict, policy: str) -> list[str]:
    return [n["reason"] for n in document.get("notApplicable", []) if n["policy"] == policy]


@pytest.mark.parametrize(("case", "code"), [("acl-elsewhere", 0), ("opened-in-local", 1), ("unseen-include", 0),
                                             ("rfc2317", 0)])
def test_bind_split_across_files(tmp_path, case, code):
    status, document, output = preflight(_bindsplit(tmp_path, case), "dev", tmp_path)
    assert status == code, output
    found = violations_of(document, "no-open-recursion")
    if case == "opened-in-local":
        (violation,) = found
        assert violation["enforcementLevel"] == "mandatory"
        assert violation["urn"].endswith("command:remote:CopyToRemote::named-conf-options")
        assert ('ns1.example.net (198.51.100.53): recursion open to any \u2014 view "resolver" (named.conf.local, '
                "match-clients { any; }) has recursion yes and no allow-recursion, inheriting allow-query { any; } "
                "(named.conf.options)") in violation["message"]
        return
    assert found == [] and violations_of(document, "mail-host-fcrdns") == [], document["violations"]
    if case == "unseen-include":
        # Not judged, never blocked: what the include holds could close or open recursion.
        (reason,) = _not_judged(document, "no-open-recursion")
        assert reason.startswith('not judged: ns1.example.net (198.51.100.53): named.conf.local line 1: include '
                                 '"/etc/bind/named.conf.views" names /etc/bind/named.conf.views, which the stack does '
                                 "not deliver")
    elif case == "acl-elsewhere":
        assert _not_judged(document, "no-open-recursion") == []  # judged, and compliant
    else:  # rfc2317: FCrDNS judged through the CNAME, and passed
        assert _not_judged(document, "mail-host-fcrdns") == []
