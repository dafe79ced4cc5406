"""The plan (tree, counts) and readable values; the engine's URN and default-provider naming rules."""

from __future__ import annotations

import json

from preflight.model import ASSET_SIG, RESOURCE_REF_SIG, SECRET_SIG, SIG_KEY, UNKNOWN, Registration
from preflight.monitor import default_provider_name, engine_urn
from preflight.plan import preview_document, readable, render_plan

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


# --- against a deployed stack: ops, changed keys, the CLI's counts ----------------------------------------------


def _deployed(record_count: int = 3):
    """A deployed zone (state) and today's registrations: one record changed, one added, one removed,
    the protected zone renamed (a replace), a copy whose zone file changed."""
    from steps_helpers import (
        COPY,
        DNS_ZONE,
        RECORD,
        STACK_TYPE,
        ZONE,
        ZONE_FILE,
        checkpoint,
        prior,
        registration,
        text_asset,
    )
    from steps_helpers import secret as wire_secret

    from preflight.steps import deletions, diff_step

    stack = registration(STACK_TYPE, "isp-prod", parent=None, custom=False)
    provider = registration("pulumi:providers:cloudflare", "default_6_23_0", parent=None)
    component = registration(DNS_ZONE, "example.net", custom=False)

    def zone(name):
        return registration(ZONE, "example.net-zone", {"name": name}, parent=component.urn, protect=True)

    def record(index, content):
        return registration(RECORD, f"example.net-a-{index}", {"zoneId": "z", "content": content, "ttl": 300,
                                                               "comment": wire_secret(PLACEHOLDER)},
                            parent=component.urn)

    def copy(text):
        return registration(COPY, "ns1-zone", {"source": text_asset(text), "remotePath": "/etc/bind/db.example.net"})

    before = [stack, provider, component, zone("example.net"),
              *(record(i, f"192.0.2.{i}") for i in range(record_count)), record(99, "192.0.2.99"), copy(ZONE_FILE)]
    state = checkpoint(*(prior(r, protect=r.protect) for r in before))
    after = [stack, provider, component, zone("example.org"), record(0, "192.0.2.100"),
             *(record(i, f"192.0.2.{i}") for i in range(1, record_count)), record(777, "192.0.2.7"),
             copy(ZONE_FILE.replace("192.0.2.10", "192.0.2.11"))]
    steps = [diff_step(r, state.get(r.urn)) for r in after] + deletions(state, {r.urn for r in after})
    return after, steps, state


def test_plan_against_state_marks_each_op_and_lists_changed_keys():
    from preflight.steps import protect_errors

    registrations, steps, _ = _deployed()
    text = render_plan(registrations, project="isp", stack="prod", placeholders=[PLACEHOLDER], steps=steps,
                       errors=protect_errors(steps))
    lines = text.splitlines()
    assert "    pulumi:pulumi:Stack isp-prod" in lines
    assert "          +-cloudflare:index/zone:Zone example.net-zone [protect]" in lines
    assert '              +-name: "example.net" => "example.org"' in lines
    assert "          ~ cloudflare:index/dnsRecord:DnsRecord example.net-a-0" in lines
    assert '              ~ content: "192.0.2.0" => "192.0.2.100"' in lines
    assert "            cloudflare:index/dnsRecord:DnsRecord example.net-a-1" in lines
    assert "          + cloudflare:index/dnsRecord:DnsRecord example.net-a-777" in lines
    assert "          - cloudflare:index/dnsRecord:DnsRecord example.net-a-99" in lines
    assert "      ~ command:remote:CopyToRemote ns1-zone" in lines
    assert ('          ~ source: (text, 4 => 4 lines) line 4: "www\\tIN\\tA\\t192.0.2.10" => '
            '"www\\tIN\\tA\\t192.0.2.11"') in lines
    # The CLI's summary (pkg/backend/display/diff.go), in StepOps order; the default provider is not counted.
    assert lines[lines.index("Resources:"):][:6] == [
        "Resources:", "    + 1 to create", "    ~ 2 to update", "    - 1 to delete", "    +-1 to replace",
        "    5 changes. 4 unchanged"]
    # The engine's refusal, whole, among the diagnostics.
    assert ('    error: unable to replace resource "urn:pulumi:prod::isp::isp:dns:DnsZone$cloudflare:index/zone:'
            'Zone::example.net-zone"') in lines
    assert "    as it is currently marked for protection." in text
    assert PLACEHOLDER not in text


def test_plan_masks_secrets_and_shortens_long_values():
    from steps_helpers import COPY, checkpoint, plaintext, prior, registration

    from preflight.steps import diff_step

    placeholder = "preflight-secret-isp-motdPassword-0a1b2c3d"  # as stackconfig.placeholder_for makes them
    new = registration(COPY, "c", {"token": {SIG_KEY: SECRET_SIG, "value": "new-token"}, "banner": "x" * 300,
                                   "motd": f"hello {placeholder}"})
    state = checkpoint(prior(new, {"token": plaintext("old-token"), "banner": "y" * 300, "motd": "hello real"}))
    text = render_plan([new], project="isp", stack="prod", placeholders=[placeholder],
                       steps={new.urn: diff_step(new, state.get(new.urn))})
    assert "~ token: \"[secret]\" => \"[secret]\"" in text
    assert "old-token" not in text and "new-token" not in text
    banner = next(line for line in text.splitlines() if "banner:" in line)
    assert len(banner) < 220 and banner.count("...") == 2
    assert "motd" not in text  # a placeholder where the state holds the real value: not compared
    assert "1 secret value(s) in the state not compared" in text


def test_summary_lines_follow_the_cli():
    from steps_helpers import RECORD

    from preflight.plan import summary_lines
    from preflight.steps import Step

    # As pulumi's lifecycle tests record them: one kind of change has no total.
    replaced = Step("replace", "urn:a", RECORD, "a")
    same = Step("same", "urn:b", RECORD, "b")
    assert summary_lines([replaced, same]) == ["Resources:", "    +-1 to replace", "    1 unchanged"]
    updates = [Step("update", f"urn:u{i}", RECORD, "u") for i in range(5)]
    replaces = [Step("replace", f"urn:r{i}", RECORD, "r") for i in range(6)]
    assert summary_lines([*updates, *replaces, same]) == [
        "Resources:", "    ~ 5 to update", "    +-6 to replace", "    11 changes. 1 unchanged"]
    assert summary_lines([same]) == ["Resources:", "    1 unchanged"]


def test_many_unchanged_siblings_are_summarised_but_changes_never_are():
    registrations, steps, _ = _deployed(record_count=40)
    lines = render_plan(registrations, project="isp", stack="prod", steps=steps).splitlines()
    assert "            cloudflare:index/dnsRecord:DnsRecord ... and 34 more of this type" in lines
    assert "          ~ cloudflare:index/dnsRecord:DnsRecord example.net-a-0" in lines
    assert "          + cloudflare:index/dnsRecord:DnsRecord example.net-a-777" in lines
    assert "          - cloudflare:index/dnsRecord:DnsRecord example.net-a-99" in lines
    assert "    5 changes. 41 unchanged" in lines


def test_a_deleted_subtree_keeps_its_shape():
    from steps_helpers import STACK_TYPE, registration

    registrations, steps, state = _deployed()
    from preflight.steps import deletions, diff_step

    only_stack = [registration(STACK_TYPE, "isp-prod", parent=None, custom=False)]
    gone = deletions(state, {only_stack[0].urn})
    kept = {only_stack[0].urn: diff_step(only_stack[0], state.get(only_stack[0].urn))}
    lines = render_plan(only_stack, project="isp", stack="prod", steps=kept, deletions=gone).splitlines()
    assert "      - isp:dns:DnsZone example.net" in lines
    assert "          - cloudflare:index/zone:Zone example.net-zone [protect]" in lines
    assert "  - pulumi:providers:cloudflare default_6_23_0" in lines
    assert "    pulumi:pulumi:Stack isp-prod" in lines
    # Seven resources deleted; the default provider's delete is the engine's internal step, not counted.
    assert lines[lines.index("Resources:") + 1:][:2] == ["    - 7 to delete", "    1 unchanged"]


def test_json_document_carries_ops_diffs_deletions_counts_and_the_guard():
    from preflight.guard import check_mass_change
    from preflight.steps import protect_errors

    registrations, steps, state = _deployed()
    guard = check_mass_change(state, steps, {})
    document = preview_document(registrations, project="isp", stack="prod", placeholders=[PLACEHOLDER], steps=steps,
                                guard=guard, errors=protect_errors(steps))
    by_name = {r["name"]: r for r in document["resources"]}
    assert by_name["example.net-a-0"]["op"] == "update" and by_name["example.net-a-0"]["diff"] == ["content"]
    assert by_name["example.net-zone"]["replaceKeys"] == ["name"]
    assert by_name["example.net-a-99"]["op"] == "delete" and by_name["example.net-a-99"]["inputs"]["ttl"] == 300
    assert by_name["example.net-a-99"]["inputs"]["comment"] == "[secret]"
    assert by_name["isp-prod"]["op"] == "same" and by_name["example.net-a-777"]["op"] == "create"
    summary = document["summary"]
    assert {k: summary[k] for k in ("create", "update", "replace", "delete", "same", "changes")} == {
        "create": 1, "update": 2, "replace": 1, "delete": 1, "same": 4, "changes": 5}
    assert summary["notCompared"] == 0 and summary["byType"]["cloudflare:index/dnsRecord:DnsRecord"] == 4
    assert document["massChange"]["status"] == "ok" and document["massChange"]["existing"] == 5
    assert document["stepErrors"][0].startswith("unable to replace resource")
    assert PLACEHOLDER not in json.dumps(document)


def test_without_state_the_document_is_as_before():
    document = preview_document(_registrations(2), project="isp", stack="dev")
    assert document["summary"] == {"create": 6, "byType": document["summary"]["byType"]}
    assert all("op" not in r for r in document["resources"]) and "massChange" not in document


def test_many_changed_siblings_are_all_listed():
    from steps_helpers import RECORD, checkpoint, prior, registration

    from preflight.steps import diff_step

    def record(i, content):
        return registration(RECORD, f"r{i}", {"zoneId": "z", "content": content})

    before = [record(i, "192.0.2.1") for i in range(50)]
    after = [record(i, "192.0.2.2" if i % 2 else "192.0.2.1") for i in range(50)]
    state = checkpoint(*(prior(r) for r in before))
    steps = [diff_step(r, state.get(r.urn)) for r in after]
    lines = render_plan(after, project="isp", stack="prod", steps=steps).splitlines()
    assert sum(line.startswith("  ~ cloudflare:index/dnsRecord:DnsRecord r") for line in lines) == 25
    assert sum(line == '      ~ content: "192.0.2.1" => "192.0.2.2"' for line in lines) == 25
    assert "    cloudflare:index/dnsRecord:DnsRecord ... and 20 more of this type" in lines
