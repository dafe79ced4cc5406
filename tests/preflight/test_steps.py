"""Steps against a deployed stack, from the engine's rules (pulumi/pulumi pkg/resource/deploy/step_generator.go,
step.go, sdk/go/common/resource/properties_diff.go and properties_path.go), not from our own output."""

from __future__ import annotations

import time

import pytest
from steps_helpers import (
    CLOUDFLARE_PROVIDER,
    COPY,
    DNS_ZONE,
    LOCAL_COMMAND,
    PROVIDER_ID,
    RECORD,
    STACK_TYPE,
    ZONE,
    checkpoint,
    ciphertext,
    plaintext,
    prior,
    registration,
    secret,
    text_asset,
)

from preflight.model import OUTPUT_VALUE_SIG, SECRET_SIG, SIG_KEY, UNKNOWN
from preflight.steps import (
    deletions,
    diff_step,
    is_default_provider,
    op_counts,
    protect_errors,
    secret_ciphertext,
)

RECORD_INPUTS = {"zoneId": "023e105f4ecef8ad9ca31a8372d0c353", "name": "www.example.net", "type": "A",
                 "content": "192.0.2.10", "ttl": 300, "proxied": False, "comment": "managed by the isp Pulumi program"}


def record(name: str = "www", **changes):
    return registration(RECORD, name, {**RECORD_INPUTS, **changes})


# --- create / same / update -------------------------------------------------------------------------------------


def test_no_old_state_is_a_create():
    step = diff_step(record(), None)
    assert (step.op, step.keys, step.replace_keys, step.old) == ("create", (), (), None)


def test_the_same_inputs_are_the_same():
    new = record()
    step = diff_step(new, prior(new, dict(RECORD_INPUTS)))
    assert (step.op, step.keys) == ("same", ())


def test_numbers_compare_as_the_engine_does_and_null_is_no_value():
    # JSON numbers are float64 to the engine: 300 and 300.0 are one value. A null property is no property.
    new = record(ttl=300.0, priority=None)
    old = {**RECORD_INPUTS, "ttl": 300}
    assert diff_step(new, prior(new, old)).op == "same"
    assert diff_step(record(), prior(new, {**old, "data": None})).op == "same"


def test_a_bool_is_not_a_number():
    # PropertyValue.DeepEquals compares V: false (bool) and 0 (float64) differ.
    new = record(proxied=0)
    step = diff_step(new, prior(new, dict(RECORD_INPUTS)))
    assert (step.op, step.keys) == ("update", ("proxied",))


def test_one_changed_key_is_an_update_naming_it():
    new = record(content="192.0.2.11")
    step = diff_step(new, prior(new, dict(RECORD_INPUTS)))
    assert (step.op, step.keys, step.replace_keys) == ("update", ("content",), ())
    assert step.old is not None and step.old.inputs["content"] == "192.0.2.10"


def test_added_and_removed_keys_are_changes():
    new = record()
    new.inputs.pop("comment")
    new.inputs["priority"] = 10
    step = diff_step(new, prior(new, dict(RECORD_INPUTS)))
    assert (step.op, step.keys) == ("update", ("comment", "priority"))


def test_nested_changes_are_named_as_preview_diff_names_paths():
    inputs = {"connection": {"host": "192.0.2.53", "user": "root", "privateKey": "key-1"},
              "triggers": ["a", "b"], "environment": {"ISP_HOST": "ns1", "X-Y": "1"}}
    new = registration(COPY, "ns1-zone", {
        "connection": {"host": "192.0.2.53", "user": "root", "privateKey": "key-2"},
        "triggers": ["a", "c", "d"], "environment": {"ISP_HOST": "ns1", "X-Y": "2"}})
    step = diff_step(new, prior(new, inputs))
    assert step.keys == ("connection.privateKey", 'environment["X-Y"]', "triggers[1]", "triggers[2]")


def test_an_unknown_new_value_is_a_change_whatever_the_old_one():
    new = record(zoneId=UNKNOWN, comment=secret(UNKNOWN), ttl={SIG_KEY: OUTPUT_VALUE_SIG, "dependencies": []})
    step = diff_step(new, prior(new, dict(RECORD_INPUTS)))
    assert step.op == "replace" and step.keys == ("comment", "ttl", "zoneId")
    listed = registration(LOCAL_COMMAND, "c", {"triggers": ["a", UNKNOWN]})
    assert diff_step(listed, prior(listed, {"triggers": ["a", "b"]})).keys == ("triggers[1]",)


def test_an_unknown_is_a_change_even_against_an_unknown_in_the_state():
    # The engine never writes an unknown into a checkpoint; should one be there, it is no known value.
    new = record(content=UNKNOWN)
    assert diff_step(new, prior(new, {**RECORD_INPUTS, "content": UNKNOWN})).keys == ("content",)


def test_known_output_values_are_their_values():
    new = record(content={SIG_KEY: OUTPUT_VALUE_SIG, "value": "192.0.2.10", "dependencies": ["urn:x"]})
    assert diff_step(new, prior(new, dict(RECORD_INPUTS))).op == "same"


def test_assets_compare_by_content_hash():
    new = registration(COPY, "ns1-zone", {"source": text_asset("zone v1\n")})
    assert diff_step(new, prior(new, {"source": text_asset("zone v1\n", hashed=True)})).op == "same"
    changed = diff_step(new, prior(new, {"source": text_asset("zone v0\n", hashed=True)}))
    assert (changed.op, changed.keys) == ("update", ("source",))


# --- replacement ------------------------------------------------------------------------------------------------


def test_a_key_the_provider_replaces_on_is_a_replace():
    # Cloudflare's dns_record zone_id is RequiresReplace; pulumi-command's triggers are replaceOnChanges.
    new = record(zoneId="0f1e2d3c4b5a69788796a5b4c3d2e1f0", content="192.0.2.11")
    step = diff_step(new, prior(new, dict(RECORD_INPUTS)))
    assert (step.op, step.keys, step.replace_keys) == ("replace", ("content", "zoneId"), ("zoneId",))
    command = registration(LOCAL_COMMAND, "ns1-install", {"create": "install", "triggers": ["d2"]})
    step = diff_step(command, prior(command, {"create": "install", "triggers": ["d1"]}))
    assert (step.op, step.replace_keys) == ("replace", ("triggers[0]",))


def test_replace_on_changes_paths_and_wildcard():
    new = record(content="192.0.2.11")
    old = prior(new, dict(RECORD_INPUTS))
    assert diff_step(new, old, replace_on_changes=["content"]).replace_keys == ("content",)
    assert diff_step(new, old, replace_on_changes=["*"]).op == "replace"
    assert diff_step(new, old, replace_on_changes=["ttl"]).op == "update"
    # A path contains itself and what lies below it, not its parent (PropertyPath.Contains).
    copy = registration(COPY, "c", {"connection": {"host": "192.0.2.53", "privateKey": "k2"}})
    old_copy = prior(copy, {"connection": {"host": "192.0.2.53", "privateKey": "k1"}})
    assert diff_step(copy, old_copy, replace_on_changes=["connection.host"]).op == "update"
    assert diff_step(copy, old_copy, replace_on_changes=["connection"]).op == "replace"
    assert diff_step(copy, old_copy, replace_on_changes=["connection.*"]).op == "replace"
    assert diff_step(copy, old_copy, replace_on_changes=['["connection"]["privateKey"]']).op == "replace"
    # A path does not contain its parent: an added `connection` is not a change of `connection.host`.
    added = prior(copy, {})
    assert diff_step(copy, added, replace_on_changes=["connection.host"]).keys == ("connection",)
    assert diff_step(copy, added, replace_on_changes=["connection.host"]).op == "update"
    # Malformed paths are the engine's error, not a replacement.
    assert diff_step(copy, old_copy, replace_on_changes=["connection[x"]).op == "update"


def test_replace_on_changes_does_not_replace_when_nothing_changed():
    new = record()
    assert diff_step(new, prior(new, dict(RECORD_INPUTS)), replace_on_changes=["*"]).op == "same"


def test_components_are_never_replaced():
    component = registration(DNS_ZONE, "example.net", {"zone": "example.org"}, custom=False)
    step = diff_step(component, prior(component, {"zone": "example.net"}), replace_on_changes=["*"])
    assert (step.op, step.keys, step.replace_keys) == ("update", ("zone",), ())


def test_the_stack_has_its_own_step():
    stack = registration(STACK_TYPE, "isp-prod", {}, parent=None, custom=False)
    assert diff_step(stack, prior(stack, {})).op == "same"
    assert diff_step(stack, None).op == "create"


def test_a_provider_reference_to_or_from_nothing_replaces():
    new = record()
    step = diff_step(new, prior(new, dict(RECORD_INPUTS), provider=""))
    assert (step.op, step.replace_keys) == ("replace", ("provider",))


def test_a_replaced_provider_replaces_its_resources_and_another_id_alone_does_not():
    new = record()
    new.provider = f"{CLOUDFLARE_PROVIDER}::{UNKNOWN}"
    old = prior(new, dict(RECORD_INPUTS), provider=f"{CLOUDFLARE_PROVIDER}::{PROVIDER_ID}")
    assert diff_step(new, old).op == "same"
    step = diff_step(new, old, replaced_providers={CLOUDFLARE_PROVIDER})
    assert (step.op, step.keys, step.replace_keys) == ("replace", ("provider",), ("provider",))


def test_another_provider_resource_is_left_to_its_diffconfig():
    # A new SDK version names a new default provider; the engine asks its DiffConfig, which replaces
    # nothing for these providers: the resource is diffed on its inputs.
    new = record(content="192.0.2.11")
    new.provider = f"{CLOUDFLARE_PROVIDER.replace('6_23_0', '6_24_0')}::{UNKNOWN}"
    step = diff_step(new, prior(new, dict(RECORD_INPUTS), provider=f"{CLOUDFLARE_PROVIDER}::{PROVIDER_ID}"))
    assert (step.op, step.keys) == ("update", ("content",))


def test_pending_replacement_is_a_replace():
    new = record()
    step = diff_step(new, prior(new, dict(RECORD_INPUTS), raw={"pendingReplacement": True}))
    assert step.op == "replace"


# --- ignore_changes ---------------------------------------------------------------------------------------------


def test_ignore_changes_keeps_the_old_value():
    new = record(content="192.0.2.11", ttl=60)
    old = prior(new, dict(RECORD_INPUTS))
    assert diff_step(new, old, ignore_changes=["content"]).keys == ("ttl",)
    assert diff_step(new, old, ignore_changes=["content", "ttl"]).op == "same"
    assert new.inputs["content"] == "192.0.2.11"  # the registration is not touched


def test_ignore_changes_of_a_key_absent_from_the_old_state_removes_it():
    new = record(priority=10)
    assert diff_step(new, prior(new, dict(RECORD_INPUTS)), ignore_changes=["priority"]).op == "same"


def test_ignore_changes_nested_paths_and_wildcards():
    copy = registration(COPY, "c", {"connection": {"host": "h2", "privateKey": "k2"}, "triggers": ["x", "y"]})
    old = prior(copy, {"connection": {"host": "h1", "privateKey": "k1"}, "triggers": ["a", "b"]})
    assert diff_step(copy, old, ignore_changes=["connection.privateKey"]).keys == (
        "connection.host", "triggers[0]", "triggers[1]")
    assert diff_step(copy, old, ignore_changes=["connection.*", "triggers[*]"]).op == "same"
    assert diff_step(copy, old, ignore_changes=['triggers["*"]', "connection"]).op == "same"
    assert diff_step(copy, old, ignore_changes=["triggers[1]"]).keys == (
        "connection.host", "connection.privateKey", "triggers[0]")


def test_ignore_changes_cannot_hide_added_array_elements():
    # "cannot ignore changes in added or removed elements of the path": the reset stops, the addition shows.
    command = registration(LOCAL_COMMAND, "c", {"triggers": ["a", "b", "c"]})
    old = prior(command, {"triggers": ["a", "x"]})
    assert diff_step(command, old, ignore_changes=["triggers[*]"]).keys == ("triggers[2]",)
    assert diff_step(command, old, ignore_changes=["triggers[2]"]).keys == ("triggers[1]", "triggers[2]")


# --- secrets ----------------------------------------------------------------------------------------------------


def test_a_secret_against_opaque_ciphertext_is_unchanged_and_counted():
    new = registration(COPY, "tls-key", {"source": secret(text_asset("-----BEGIN PRIVATE KEY-----\n")),
                                         "connection": {"host": "192.0.2.25", "privateKey": secret("k")}})
    old = prior(new, {"source": ciphertext("x"), "connection": {"host": "192.0.2.25", "privateKey": ciphertext("k")}})
    step = diff_step(new, old)
    assert (step.op, step.not_compared) == ("same", 2)


def test_a_placeholder_against_a_plaintext_secret_is_not_compared():
    new = registration(COPY, "c", {"password": secret("preflight-secret-isp-dbPassword-1a2b3c4d")})
    step = diff_step(new, prior(new, {"password": plaintext("the real password")}))
    assert (step.op, step.not_compared) == ("same", 1)


def test_a_plaintext_secret_is_compared_by_value_and_secretness_is_not_a_change():
    new = registration(COPY, "c", {"token": secret("abc"), "user": "root"})
    assert diff_step(new, prior(new, {"token": plaintext("abc"), "user": plaintext("root")})).op == "same"
    step = diff_step(new, prior(new, {"token": plaintext("abd"), "user": "root"}))
    assert (step.op, step.keys, step.not_compared) == ("update", ("token",), 0)


def test_preflight_s_own_ciphertext_is_compared_exactly():
    new = registration(COPY, "c", {"token": secret({"a": 1.0, "b": [True]})})
    sealed = {SIG_KEY: SECRET_SIG, "ciphertext": secret_ciphertext({"b": [True], "a": 1})}
    step = diff_step(new, prior(new, {"token": sealed}))
    assert (step.op, step.not_compared) == ("same", 0)
    resealed = {**sealed, "ciphertext": secret_ciphertext({"a": 2, "b": [True]})}
    assert diff_step(new, prior(new, {"token": resealed})).keys == ("token",)


def test_an_unknown_secret_against_ciphertext_is_a_change():
    new = registration(COPY, "c", {"token": secret(UNKNOWN)})
    step = diff_step(new, prior(new, {"token": ciphertext("x")}))
    assert (step.op, step.keys) == ("update", ("token",))


# --- deletions and protect --------------------------------------------------------------------------------------


def _zone_state():
    component = registration(DNS_ZONE, "example.net", custom=False)
    zone = registration(ZONE, "example.net-zone", {"name": "example.net"}, parent=component.urn)
    records = [registration(RECORD, f"example.net-a-{i}", {**RECORD_INPUTS}, parent=component.urn) for i in range(3)]
    stack = registration(STACK_TYPE, "isp-prod", parent=None, custom=False)
    resources = [prior(stack), prior(component), prior(zone, protect=True), *(prior(r) for r in records)]
    return stack, component, zone, records, checkpoint(*resources)


def test_deletions_are_every_unregistered_resource_dependents_first():
    stack, component, zone, records, state = _zone_state()
    steps = deletions(state, {stack.urn})
    assert [s.urn for s in steps] == [records[2].urn, records[1].urn, records[0].urn, zone.urn, component.urn]
    assert all(s.op == "delete" and s.old is not None for s in steps)
    assert [s.protect for s in steps] == [False, False, False, True, False]
    assert steps[0].name == "example.net-a-2" and steps[3].type == ZONE
    assert deletions(state, {r.urn for r in state.resources}) == []


def test_deletions_skip_reads_and_leftovers_of_replacements():
    stack, _, zone, _, state = _zone_state()
    leftover = prior(zone, raw={"delete": True})
    read = prior(stack.urn.replace("isp-prod", "x"), raw={"external": True})
    kept_apart = type(state)(resources=state.resources, pending_deletion=(leftover,), external=(read,))
    assert {s.urn for s in deletions(kept_apart, {r.urn for r in state.resources})} == set()


# The engine's own texts, as its lifecycle tests record them (pulumi/pulumi pkg/engine/lifecycletest/testdata/
# output/TestProtect/1/eventstream.json and TestDestroyV2ProtectedWithProviderDependencies/0/eventstream.json).
ENGINE_REPLACE_ERROR = ('unable to replace resource "urn:pulumi:test::test::pkgA:m:typA::resA"\n'
                        "as it is currently marked for protection. To unprotect the resource, remove the `protect` "
                        "flag from the resource in your Pulumi program and run `pulumi up`")
ENGINE_DELETE_ERROR = ('resource "urn:pulumi:test::test::pkgA:m:typA::resA" cannot be deleted\n'
                       "because it is protected. To unprotect the resource, either remove the `protect` flag from "
                       "the resource in your Pulumi program and run `pulumi up`, or use the command:\n"
                       "`pulumi state unprotect 'urn:pulumi:test::test::pkgA:m:typA::resA'`")


def test_protect_errors_are_the_engine_s_words():
    engine_urn = "urn:pulumi:test::test::pkgA:m:typA::resA"
    new = registration("pkgA:m:typA", "resA", {"a": 2}, protect=True)
    new.urn = engine_urn
    replaced = diff_step(new, prior(new, {"a": 1}, protect=True), replace_on_changes=["a"])
    deleted = deletions(checkpoint(prior(engine_urn, {"a": 1}, protect=True)), set())
    assert protect_errors([replaced, *deleted]) == [ENGINE_REPLACE_ERROR, ENGINE_DELETE_ERROR]


def test_protect_refuses_a_replace_only_when_old_and_new_are_protected():
    # "we do allow unprotecting and replacing to happen in a single update" (step_generator.go).
    new = record(zoneId="0f1e2d3c4b5a69788796a5b4c3d2e1f0")
    unprotecting = diff_step(new, prior(new, dict(RECORD_INPUTS), protect=True))
    new.protect = True
    newly_protected = diff_step(new, prior(new, dict(RECORD_INPUTS)))
    updated = diff_step(record(content="x"), prior(record(), dict(RECORD_INPUTS), protect=True))
    assert protect_errors([unprotecting, newly_protected, updated]) == []
    unprotected_delete = deletions(checkpoint(prior(new, protect=False)), set())
    assert protect_errors(unprotected_delete) == []


def test_quoting_of_unusual_urns_follows_go():
    urn = 'urn:pulumi:prod::isp::pkgA:m:typA::name "with"\\quotes\tand tab'
    error = protect_errors(deletions(checkpoint(prior(urn, {}, type_="pkgA:m:typA", protect=True)), set()))[0]
    assert error.startswith('resource "urn:pulumi:prod::isp::pkgA:m:typA::name \\"with\\"\\\\quotes\\tand tab" ')


# --- counts -----------------------------------------------------------------------------------------------------


def test_op_counts_leave_default_providers_out_as_the_cli_does():
    provider = registration("pulumi:providers:cloudflare", "default_6_23_0", parent=None)
    explicit = registration("pulumi:providers:cloudflare", "zone-admin", parent=None)
    assert is_default_provider(provider.urn) and not is_default_provider(explicit.urn)
    assert not is_default_provider(registration(RECORD, "default-www").urn)
    steps = [diff_step(provider, None), diff_step(explicit, None), diff_step(record(), None),
             *deletions(checkpoint(prior(record("old"))), set())]
    assert op_counts(steps) == {"create": 2, "update": 0, "replace": 0, "delete": 1, "same": 0}


# --- speed ------------------------------------------------------------------------------------------------------


def test_sixteen_thousand_steps_are_fast():
    zone_text = "\n".join(f"host{i}\tIN\tA\t192.0.2.{i % 250}" for i in range(200))
    registrations = [registration(COPY, f"zone-{i}", {"source": text_asset(zone_text), "remotePath": f"/z/{i}",
                                                      "connection": {"host": "192.0.2.53", "privateKey": secret("k")},
                                                      "triggers": [str(i), "d"]}) for i in range(8000)]
    registrations += [record(f"r{i}") for i in range(8000)]
    priors = [prior(r, {**r.inputs, "connection": {"host": "192.0.2.53", "privateKey": ciphertext("k")}}
                    if r.type == COPY else dict(r.inputs)) for r in registrations]
    start = time.perf_counter()
    steps = [diff_step(r, p) for r, p in zip(registrations, priors, strict=True)]
    elapsed = time.perf_counter() - start
    assert {s.op for s in steps} == {"same"}
    # A 16k preview takes minutes; its steps must take well under a tenth of that.
    assert elapsed < 3.0, f"{elapsed:.2f}s for 16k steps"


@pytest.mark.parametrize("path", ["", "a.", ".a", 'a["b', "a[b]"])
def test_malformed_ignore_paths_are_skipped_as_the_engine_skips_them(path):
    new = record(content="192.0.2.11")
    assert diff_step(new, prior(new, dict(RECORD_INPUTS)), ignore_changes=[path]).keys == ("content",)
