"""preflight.marshal: the requests a policy pack receives, as the engine marshals them.

Upstream yardsticks: pulumi/pulumi-policy tests/integration/resource_options (the Node pack's asserts:
options as deep-equal objects) and tests/integration/deserialize (a resource passed as an input)."""

from __future__ import annotations

from google.protobuf.json_format import MessageToDict
from pack_helpers import PROVIDER_URN, RECORD_URN, ZONE_URN, registrations
from pulumi_policy.deserialize import deserialize_properties

from preflight.marshal import analyze_request, stack_resource
from preflight.model import RESOURCE_REF_SIG, SIG_KEY, UNKNOWN, CustomTimeouts, Registration, secret

# A record inside a component, as the upstream yardsticks shape it.
OPTS_STACK_URN = "urn:pulumi:dev::opts::pulumi:pulumi:Stack::opts-dev"
OPTS_PROVIDER_URN = "urn:pulumi:dev::opts::pulumi:providers:cloudflare::default_6_23_0"
OPTS_ZONE_URN = "urn:pulumi:dev::opts::cloudflare:index/zone:Zone::zone"
OPTS_BOX_URN = "urn:pulumi:dev::opts::opts:index:Box::box"
OPTS_RECORD_URN = "urn:pulumi:dev::opts::opts:index:Box$cloudflare:index/dnsRecord:DnsRecord::rec"


def _record(**options) -> Registration:
    return Registration(OPTS_RECORD_URN, "cloudflare:index/dnsRecord:DnsRecord", "rec", custom=True,
                        parent=OPTS_BOX_URN, provider=f"{OPTS_PROVIDER_URN}::{UNKNOWN}", inputs={"name": "www"},
                        **options)


def _options(request) -> dict:
    return MessageToDict(request.options, preserving_proto_field_name=False, always_print_fields_with_no_presence=True)


def test_unset_options_are_sent_as_the_engine_sends_them():
    # resource_options/policy-pack/index.ts: the default options, customTimeouts all zero, no deleteBeforeReplace.
    options = _options(analyze_request(_record(), {"name": "www"}, {}))
    assert options == {
        "protect": False, "ignoreChanges": [], "deleteBeforeReplace": False, "deleteBeforeReplaceDefined": False,
        "additionalSecretOutputs": [], "aliases": [], "parent": OPTS_BOX_URN,
        "customTimeouts": {"create": 0.0, "update": 0.0, "delete": 0.0, "read": 0.0},
    }


def test_set_options_reach_analyze_and_analyze_stack():
    record = _record(protect=True, ignore_changes=["foo", "bar"], delete_before_replace=False,
                     delete_before_replace_defined=True, additional_secret_outputs=["foo"],
                     custom_timeouts=CustomTimeouts(create=60, update=120, delete=180))
    for request in (analyze_request(record, record.inputs, {}), stack_resource(record, {}, {})):
        options = _options(request)
        assert options["protect"] is True
        assert options["ignoreChanges"] == ["foo", "bar"]
        # false but set: the pack sees deleteBeforeReplace=False, not None
        assert (options["deleteBeforeReplace"], options["deleteBeforeReplaceDefined"]) == (False, True)
        assert options["additionalSecretOutputs"] == ["foo"]
        assert options["customTimeouts"] == {"create": 60.0, "update": 120.0, "delete": 180.0, "read": 0.0}


def test_aliases_sent_are_the_state_s_not_the_ones_asked_for():
    # The engine sends the alias an old resource was found under (state.Aliases), none at a first preview.
    asked = _record(aliases=["urn:pulumi:dev::opts::cloudflare:index/record:Record::rec"])
    assert list(analyze_request(asked, asked.inputs, {}).options.aliases) == []
    found = _record(aliases=asked.aliases, aliased_from=asked.aliases[0])
    assert list(stack_resource(found, {}, {}).options.aliases) == asked.aliases


def test_resource_references_become_ids_or_urns():
    # deserialize test: a custom resource passed as an input arrives as its id, a component as its URN.
    zone_known = {SIG_KEY: RESOURCE_REF_SIG, "urn": OPTS_ZONE_URN, "id": "zone-1234", "packageVersion": "6.23.0"}
    zone_unknown = {SIG_KEY: RESOURCE_REF_SIG, "urn": OPTS_ZONE_URN, "id": UNKNOWN}
    zone_empty_id = {SIG_KEY: RESOURCE_REF_SIG, "urn": OPTS_ZONE_URN, "id": ""}
    box = {SIG_KEY: RESOURCE_REF_SIG, "urn": OPTS_BOX_URN}
    inputs = {"zone": zone_known, "pending": zone_unknown, "blank": zone_empty_id, "box": box,
              "nested": [{"owner": box}], "hidden": secret(zone_known)}
    record = _record()
    for properties in (analyze_request(record, inputs, {}).properties, stack_resource(record, inputs, {}).properties,
                       analyze_request(record, inputs, {}, for_remediate=True).properties):
        sent = MessageToDict(properties)
        assert (sent["zone"], sent["pending"], sent["blank"], sent["box"]) == (
            "zone-1234", UNKNOWN, UNKNOWN, OPTS_BOX_URN)
        assert sent["nested"] == [{"owner": OPTS_BOX_URN}]
        assert sent["hidden"] == secret("zone-1234")
        # What a Python pack does with them (it raised "Unrecognized signature" on a raw reference).
        deserialized = deserialize_properties(sent)
        assert deserialized["zone"] == "zone-1234" and deserialized["box"] == OPTS_BOX_URN


def test_provider_properties_hide_internal_keys_and_references():
    provider = Registration(OPTS_PROVIDER_URN, "pulumi:providers:cloudflare", "default_6_23_0", custom=True,
                            inputs={"version": "6.23.0", "__internal": {"pluginDownloadURL": "https://example.com"}})
    record = _record()
    request = analyze_request(record, record.inputs, {OPTS_PROVIDER_URN: provider})
    assert MessageToDict(request.provider.properties) == {"version": "6.23.0"}
    assert "__internal" in MessageToDict(analyze_request(provider, provider.inputs, {}, for_remediate=True).properties)
    assert MessageToDict(analyze_request(provider, provider.inputs, {}).properties) == {"version": "6.23.0"}


def test_requests_carry_what_the_engine_sends():
    regs = registrations()
    by_urn = {r.urn: r for r in regs}
    record = by_urn[RECORD_URN]
    request = analyze_request(record, record.inputs, by_urn)
    assert "__defaults" not in request.properties  # internal keys are skipped, as SkipInternalKeys does
    assert request.properties["zoneId"] == UNKNOWN and request.properties["ttl"] == 86400
    assert (request.provider.urn, request.provider.name, request.provider.properties["version"]) == (
        PROVIDER_URN, "default_6_23_0", "6.23.0")
    assert request.options.parent == ZONE_URN and request.options.protect
    assert "__defaults" in analyze_request(record, record.inputs, by_urn, for_remediate=True).properties
    resource = stack_resource(record, record.outputs, by_urn)
    assert resource.parent == ZONE_URN and list(resource.dependencies) == [ZONE_URN]
    assert list(resource.propertyDependencies) == ["zoneId"]  # empty lists are skipped
    assert resource.properties["id"] == UNKNOWN
