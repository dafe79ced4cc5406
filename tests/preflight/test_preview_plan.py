"""The plan (tree, counts) and readable values; the engine's URN and default-provider naming rules."""

from __future__ import annotations

from preflight.model import ASSET_SIG, RESOURCE_REF_SIG, SECRET_SIG, SIG_KEY, UNKNOWN, Registration
from preflight.plan import preview_document, readable, render_plan
from preflight.runner import default_provider_name, engine_urn

STACK_URN = "urn:pulumi:dev::isp::pulumi:pulumi:Stack::isp-dev"
PLACEHOLDER = "[secret placeholder for isp:dbPassword]"


def test_engine_urn_qualifies_by_parent_and_elides_the_stack():
    top = engine_urn("dev", "isp", STACK_URN, "isp:dns:Zone", "example.net")
    assert top == "urn:pulumi:dev::isp::isp:dns:Zone::example.net"
    child = engine_urn("dev", "isp", top, "cloudflare:index/dnsRecord:DnsRecord", "www")
    assert child == "urn:pulumi:dev::isp::isp:dns:Zone$cloudflare:index/dnsRecord:DnsRecord::www"
    grandchild = engine_urn("dev", "isp", child, "x:y:Z", "n::with::colons")
    assert grandchild == ("urn:pulumi:dev::isp::isp:dns:Zone$cloudflare:index/dnsRecord:DnsRecord$x:y:Z"
                          "::n::with::colons")
    assert engine_urn("dev", "isp", "", "pulumi:pulumi:Stack", "isp-dev") == STACK_URN


def test_default_provider_names_follow_the_engine():
    assert default_provider_name("6.23.0") == "default_6_23_0"
    assert default_provider_name("1.0.0-alpha.1+build5") == "default_1_0_0_alpha_1_build5"
    assert default_provider_name("") == "default"
    assert default_provider_name("1.2.3", "github://api.github.com/org") == "default_1_2_3_github_/api.github.com/org"


def test_readable_values():
    wire = {
        "zoneId": UNKNOWN,
        "ttl": 300.0,
        "weight": 0.5,
        "token": {SIG_KEY: SECRET_SIG, "value": "real"},
        "source": {SIG_KEY: ASSET_SIG, "text": "hello", "hash": "abc"},
        "secretSource": {SIG_KEY: SECRET_SIG, "value": {SIG_KEY: ASSET_SIG, "text": "hidden"}},
        "ref": {SIG_KEY: RESOURCE_REF_SIG, "urn": "urn:x", "id": "i"},
        "banner": f"user=admin password={PLACEHOLDER}",
        "list": [UNKNOWN, 1.0],
    }
    assert readable(wire, [PLACEHOLDER]) == {
        "zoneId": "[unknown]",
        "ttl": 300,
        "weight": 0.5,
        "token": "[secret]",
        "source": {"text": "hello"},
        "secretSource": "[secret]",
        "ref": "urn:x",
        "banner": "user=admin password=[secret]",
        "list": ["[unknown]", 1],
    }


def _resource(name: str, type_: str, parent: str | None = STACK_URN, **kwargs) -> Registration:
    parent_type = parent.split("::")[2] if parent and parent != STACK_URN else ""
    qualified = f"{parent_type}${type_}" if parent_type else type_
    return Registration(urn=f"urn:pulumi:dev::isp::{qualified}::{name}", type=type_, name=name, custom=True,
                        parent=parent, **kwargs)


def _registrations(record_count: int) -> list[Registration]:
    stack = Registration(urn=STACK_URN, type="pulumi:pulumi:Stack", name="isp-dev", custom=False,
                         outputs={"zoneId": UNKNOWN, "password": {SIG_KEY: SECRET_SIG, "value": "x"}})
    zone = _resource("example.net", "isp:dns:DnsZone")
    zone.custom = False
    records = [_resource(f"rec{i}", "cloudflare:index/dnsRecord:DnsRecord", zone.urn,
                         inputs={"content": PLACEHOLDER}) for i in range(record_count)]
    protected = _resource("cf-zone", "cloudflare:index/zone:Zone", zone.urn, protect=True)
    provider = Registration(urn="urn:pulumi:dev::isp::pulumi:providers:cloudflare::default_6_23_0",
                            type="pulumi:providers:cloudflare", name="default_6_23_0", custom=True)
    return [stack, zone, provider, protected, *records]


def test_plan_tree_counts_and_summary_of_many_siblings():
    registrations = _registrations(45)
    text = render_plan(registrations, project="isp", stack="dev", placeholders=[PLACEHOLDER])
    lines = text.splitlines()
    # The tree: stack, component under it, children of the component one level deeper.
    assert "  + pulumi:pulumi:Stack isp-dev" in lines
    assert "      + isp:dns:DnsZone example.net" in lines
    assert "          + cloudflare:index/zone:Zone cf-zone [protect]" in lines
    shown = [line for line in lines if line.strip().startswith("+ cloudflare:index/dnsRecord:DnsRecord rec")]
    assert len(shown) == 5
    assert "          + cloudflare:index/dnsRecord:DnsRecord ... and 40 more of this type" in lines
    # Counts are exact even when the tree summarises.
    assert "    45 cloudflare:index/dnsRecord:DnsRecord" in lines
    assert "    + 49 to create" in lines
    assert "    password: [secret]" in lines and "    zoneId: [unknown]" in lines
    assert PLACEHOLDER not in text


def test_few_siblings_are_all_listed():
    text = render_plan(_registrations(20), project="isp", stack="dev")
    assert sum(" rec" in line for line in text.splitlines()) == 20
    assert "more of this type" not in text


def test_json_document_shape():
    document = preview_document(_registrations(2), project="isp", stack="dev", placeholders=[PLACEHOLDER])
    assert document["stack"] == "dev" and document["project"] == "isp"
    first_record = document["resources"][4]
    assert set(first_record) == {"urn", "type", "name", "custom", "parent", "dependencies", "protect", "provider",
                                 "inputs"}
    assert first_record["inputs"] == {"content": "[secret]"}
    assert document["summary"]["create"] == 6
    assert "violations" not in document
