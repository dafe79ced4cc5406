"""The lab's command runner: the engine's order, the provider's way of running a command, the first failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.deploy import Step, execute, order_steps, plan_from_registrations, render_plan
from lab.settings import LabError
from preflight.model import SECRET_SIG, SIG_KEY, UNKNOWN


def _command(name: str, parent: str | None = None, deps: tuple[str, ...] = (), create: str = "true", **inputs):
    return {"urn": f"urn:{name}", "type": "command:local:Command", "name": name, "parent": parent,
            "dependencies": [f"urn:{d}" for d in deps], "property_dependencies": {},
            "inputs": {"create": create, **inputs}}


def _component(name: str, parent: str | None = None, deps: tuple[str, ...] = ()):
    return {"urn": f"urn:{name}", "type": "isp:delivery:ServiceConfig", "name": name, "parent": parent,
            "dependencies": [f"urn:{d}" for d in deps], "property_dependencies": {}, "inputs": {}}


def test_children_wait_for_what_their_ancestors_depend_on():
    registrations = [
        _component("postfix", deps=("dovecot",)),  # registered first, but depends on dovecot
        _command("postfix-staging", parent="urn:postfix"),
        _command("postfix-install", parent="urn:postfix", deps=("postfix-staging",)),
        _component("dovecot"),
        _command("dovecot-staging", parent="urn:dovecot"),
        _command("dovecot-install", parent="urn:dovecot", deps=("dovecot-staging",)),
    ]
    order = [s.name for s in order_steps(registrations)]
    assert order == ["dovecot-staging", "dovecot-install", "postfix-staging", "postfix-install"]
    postfix_staging = next(s for s in order_steps(registrations) if s.name == "postfix-staging")
    # A dependency on a component stands for every command below it.
    assert set(postfix_staging.after) == {"urn:dovecot-staging", "urn:dovecot-install"}


def test_registration_order_is_kept_among_independent_commands():
    registrations = [_command(n) for n in ("c", "a", "b")]
    assert [s.name for s in order_steps(registrations)] == ["c", "a", "b"]


def test_a_dependency_cycle_is_reported():
    registrations = [_command("a", deps=("b",)), _command("b", deps=("a",))]
    with pytest.raises(LabError, match="cycle"):
        order_steps(registrations)


def test_secrets_are_unwrapped_and_unknowns_refused():
    secret = {SIG_KEY: SECRET_SIG, "value": "echo hidden"}
    step = order_steps([_command("a", create=secret)])[0]  # type: ignore[arg-type]
    assert step.create == "echo hidden"
    with pytest.raises(LabError, match="unknown"):
        order_steps([_command("b", create=UNKNOWN)])


def test_a_step_runs_like_the_provider_runs_it(tmp_path: Path):
    step = Step(urn="urn:x", name="x", parent=None, create='printf "%s|%s|" "$GREETING" "$(pwd)"; cat',
                environment=(("GREETING", "hello"),), stdin="from stdin", dir=str(tmp_path))
    result = execute([step], echo=lambda _: None)
    assert result.ok
    assert result.results[0].stdout == f"hello|{tmp_path}|from stdin"


def test_the_first_failure_stops_the_deployment_and_is_reported(tmp_path: Path):
    marker = tmp_path / "ran"
    steps = [
        Step(urn="urn:a", name="a", parent=None, create="echo fine"),
        Step(urn="urn:b", name="b", parent=None, create="echo 'validation failed: checker' >&2; exit 1"),
        Step(urn="urn:c", name="c", parent=None, create=f"touch {marker}"),
    ]
    lines: list[str] = []
    result = execute(steps, echo=lines.append)
    assert not result.ok
    assert result.failed.name == "b"
    assert result.not_run == ["c"] and not marker.exists()
    assert result.failure_message() == "b failed (exit 1): validation failed: checker"
    assert any("FAILED  b" in line for line in lines)


def test_the_lab_plan_delivers_postfix_after_its_policy_service_and_dovecot():
    plan = render_plan("lab")
    names = [s.name for s in plan.steps]
    assert names.index("mail-postfix-staging") > names.index("mail-ratelimit-install")
    assert names.index("mail-postfix-staging") > names.index("mail-dovecot-install")
    for service in ("ns1-bind", "mail-postfix", "gw-nftables", "www-nginx"):
        assert names.index(f"{service}-staging") < names.index(f"{service}-install")
    files = plan.files_for("ns1.isp.test")
    assert "/etc/bind/named.conf" in files and "/etc/bind/zones/db.isp.test" in files
    assert "allow-recursion { isp_recursion; };" in files["/etc/bind/named.conf"]
    # Reloading a plan from its registrations gives the same steps.
    assert plan_from_registrations(plan.stack, plan.registrations).steps == plan.steps
    assert [s.name for s in plan.steps_under("ns1-bind")][-1] == "ns1-bind-install"
