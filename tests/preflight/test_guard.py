"""The mass-change guard: octoDNS's safety threshold (octodns/provider/plan.py Plan.raise_if_unsafe) over the
stack's DNS records and zone files in the prior state."""

from __future__ import annotations

import pytest
from steps_helpers import (
    COPY,
    DNS_ZONE,
    LOCAL_COMMAND,
    RECORD,
    ZONE,
    ZONE_FILE,
    checkpoint,
    ciphertext,
    prior,
    registration,
    secret,
    text_asset,
)

from preflight.guard import MINIMUM_KEY, PERCENT_KEY, GuardConfigError, check_mass_change, is_zone_text, thresholds
from preflight.steps import deletions, diff_step

RECORD_INPUTS = {"zoneId": "023e105f4ecef8ad9ca31a8372d0c353", "type": "A", "content": "192.0.2.10", "ttl": 300}


def _stack(records: int, zone_files: int = 0, others: int = 5):
    """Registrations and the checkpoint of an up of them."""
    component = registration(DNS_ZONE, "example.net", custom=False)
    registrations = [component, registration(ZONE, "example.net-zone", {"name": "example.net"}, parent=component.urn)]
    registrations += [registration(RECORD, f"example.net-a-{i}", {**RECORD_INPUTS, "name": f"h{i}.example.net"},
                                   parent=component.urn) for i in range(records)]
    registrations += [registration(COPY, f"ns1-zone-{i}", {"source": text_asset(ZONE_FILE), "remotePath": f"/z{i}"})
                      for i in range(zone_files)]
    registrations += [registration(LOCAL_COMMAND, f"other-{i}", {"create": "true"}) for i in range(others)]
    return registrations, checkpoint(*(prior(r) for r in registrations))


def _guard(registrations, state, *, gone=(), changed=(), config=None, allowed=False):
    """Steps where the names in `gone` are no longer registered and those in `changed` get a new zoneId."""
    steps = []
    kept = [r for r in registrations if r.name not in gone]
    for r in kept:
        if r.name in changed:
            r = registration(r.type, r.name, {**r.inputs, "zoneId": "0f1e2d3c4b5a69788796a5b4c3d2e1f0"},
                             parent=r.parent)
        steps.append(diff_step(r, state.get(r.urn)))
    steps += deletions(state, {r.urn for r in kept})
    return check_mass_change(state, steps, config or {}, allowed=allowed)


def test_below_at_and_above_the_threshold():
    registrations, state = _stack(20)
    below = _guard(registrations, state, gone=[f"example.net-a-{i}" for i in range(5)])
    at = _guard(registrations, state, gone=[f"example.net-a-{i}" for i in range(6)])
    above = _guard(registrations, state, gone=[f"example.net-a-{i}" for i in range(7)])
    assert (below.fired, at.fired, above.fired) == (False, False, True)  # octoDNS: fires when over, not at
    assert (above.deleted, above.replaced, above.existing, above.threshold) == (7, 0, 20, 30.0)
    assert above.percent == pytest.approx(35.0)
    assert above.status == "fired" and at.status == "ok"


def test_replacements_count_with_deletions():
    registrations, state = _stack(20)
    result = _guard(registrations, state, gone=["example.net-a-0", "example.net-a-1"],
                    changed=[f"example.net-a-{i}" for i in range(2, 7)])
    assert (result.deleted, result.replaced, result.fired) == (2, 5, True)
    # Updates in place are what the preview lists one by one; they are not the guard's business.
    updates = [diff_step(registration(r.type, r.name, {**r.inputs, "content": "192.0.2.99"}, parent=r.parent),
                         state.get(r.urn)) for r in registrations if r.type == RECORD]
    assert {s.op for s in updates} == {"update"}
    assert check_mass_change(state, updates, {}).changed == 0


def test_other_resources_are_not_counted():
    registrations, state = _stack(20, others=40)
    result = _guard(registrations, state, gone=[f"other-{i}" for i in range(40)] + ["example.net-zone"])
    assert (result.changed, result.existing, result.fired) == (0, 20, False)


def test_zone_files_are_counted_with_records():
    registrations, state = _stack(8, zone_files=4)
    result = _guard(registrations, state, gone=[f"ns1-zone-{i}" for i in range(4)])
    assert (result.existing, result.deleted, result.fired) == (12, 4, True)


def test_a_small_stack_is_not_guarded():
    # More than the minimum must exist (the issue: "30% when more than 10 exist").
    registrations, state = _stack(10)
    everything = _guard(registrations, state, gone=[f"example.net-a-{i}" for i in range(10)])
    assert (everything.existing, everything.percent, everything.fired) == (10, 100.0, False)
    registrations, state = _stack(11)
    assert _guard(registrations, state, gone=[f"example.net-a-{i}" for i in range(4)]).fired


def test_the_run_may_allow_it():
    registrations, state = _stack(20)
    gone = [f"example.net-a-{i}" for i in range(12)]
    result = _guard(registrations, state, gone=gone, allowed=True)
    assert (result.fired, result.overridden, result.status) == (False, True, "overridden")
    assert "allowed by --allow-mass-change" in result.message()
    calm = _guard(registrations, state, gone=gone[:1], allowed=True)
    assert (calm.fired, calm.overridden) == (False, False)


def test_the_message_has_octodns_wording_counts_and_first_names():
    registrations, state = _stack(30)
    gone = [f"example.net-a-{i}" for i in range(14)]
    result = _guard(registrations, state, gone=gone)
    lines = result.message().splitlines()
    assert lines[0] == ("Too many deletes and replacements of DNS records and zone files, 46.67% is over 30.00% "
                        "(14/30: 14 deleted, 0 replaced), force required: give --allow-mass-change, or set "
                        "preflight:massChangePercent")
    assert len(result.first) == 10 and lines[1].strip().startswith("urn:pulumi:prod::isp::")
    assert lines[-1] == "    ... and 4 more"
    document = result.document()
    assert document == {"status": "fired", "deleted": 14, "replaced": 0, "existing": 30, "percent": 46.67,
                        "threshold": 30.0, "minimum": 10, "first": list(result.first)}


def test_stack_config_sets_the_threshold_and_the_minimum():
    registrations, state = _stack(20)
    gone = [f"example.net-a-{i}" for i in range(7)]
    assert not _guard(registrations, state, gone=gone, config={PERCENT_KEY: "50"}).fired
    assert _guard(registrations, state, gone=gone[:1], config={PERCENT_KEY: "0"}).fired
    assert not _guard(registrations, state, gone=gone, config={MINIMUM_KEY: "20"}).fired
    assert _guard(registrations, state, gone=gone, config={MINIMUM_KEY: "19", PERCENT_KEY: 34.9}).fired
    assert thresholds({PERCENT_KEY: " 12.5 ", MINIMUM_KEY: 0}) == (12.5, 0)
    assert thresholds({"isp:other": "1"}) == (30.0, 10)


@pytest.mark.parametrize(("key", "value"), [
    (PERCENT_KEY, "101"), (PERCENT_KEY, "-1"), (PERCENT_KEY, "thirty"), (PERCENT_KEY, "nan"), (PERCENT_KEY, True),
    (PERCENT_KEY, "30%"), (MINIMUM_KEY, "-1"), (MINIMUM_KEY, "2.5"), (MINIMUM_KEY, "ten"), (MINIMUM_KEY, False),
    (MINIMUM_KEY, "1e3"),
])
def test_bad_settings_are_errors_naming_the_key(key, value):
    with pytest.raises(GuardConfigError) as problem:
        thresholds({key: value})
    assert str(problem.value).startswith(f"{key} must be ")
    assert repr(value) in str(problem.value)


def test_a_secret_setting_is_not_echoed():
    with pytest.raises(GuardConfigError) as problem:
        thresholds({PERCENT_KEY: "preflight-secret-preflight-massChangePercent-0a1b2c3d"})
    assert "preflight-secret" not in str(problem.value) and "[secret]" in str(problem.value)


def test_zone_files_are_recognised_by_their_soa_record():
    assert is_zone_text(ZONE_FILE)
    assert is_zone_text("example.net. 3600 IN SOA ns1 hostmaster 1 2 3 4 5\n")
    assert is_zone_text("$ORIGIN example.net.\n@ IN 3600 SOA ns1 hostmaster (\n 1 2 3 4 5 )\n")
    assert is_zone_text("  soa ns1 hostmaster 1 2 3 4 5")
    assert not is_zone_text('txt IN TXT "SOA is the start of authority"\n')
    assert not is_zone_text("info IN TXT SOA\n")  # an unquoted TXT string (RFC 1035 5.1)
    assert not is_zone_text("soa.example.net. IN A 192.0.2.1\n")
    assert not is_zone_text("; @ IN SOA commented out\nwww IN A 192.0.2.1\n")
    assert not is_zone_text("options { directory \"/var/cache/bind\"; };\n")


def test_zone_file_copies_local_and_remote_but_not_secret_ones():
    local = registration(LOCAL_COMMAND, "ns1-zone", {"stdin": ZONE_FILE, "create": "cat > f"})
    remote = registration(COPY, "ns2-zone", {"source": text_asset(ZONE_FILE, hashed=True)})
    sealed = registration(COPY, "ns3-zone", {"source": secret(text_asset(ZONE_FILE))})
    config = registration(COPY, "ns1-named-conf", {"source": text_asset("options { };\n")})
    records = [registration(RECORD, f"r{i}", RECORD_INPUTS) for i in range(9)]
    state = checkpoint(prior(local), prior(remote), prior(sealed, {"source": ciphertext("x")}), prior(config),
                       *(prior(r) for r in records))
    result = check_mass_change(state, deletions(state, set()), {})
    assert (result.existing, result.deleted, result.fired) == (11, 11, True)


def test_a_quiet_guard_says_what_it_counted():
    registrations, state = _stack(20)
    assert _guard(registrations, state, gone=["example.net-a-0"]).message() == (
        "1 of 20 DNS records and zone files deleted or replaced (5.00%), within 30.00%")
    registrations, state = _stack(4)
    assert _guard(registrations, state, gone=["example.net-a-0"]).message() == (
        "1 of 4 DNS records and zone files deleted or replaced (25.00%); not guarded: 10 or fewer exist "
        "(preflight:massChangeMinimum)")
