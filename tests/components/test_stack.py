"""The whole program under Pulumi's mocks: every file is rendered before the first registration, so a
value the config model accepts but a renderer refuses registers nothing and is named by its key.

The program (`__main__.py`) runs in-process with the stack's config set as the engine sets it, and
every registration it starts is awaited before counting (as `pulumi up` would still send them).
"""

from __future__ import annotations

import json
import os
import runpy
from typing import Any

import pulumi
import pytest
import yaml

from components.config import ConfigError, parse_stack_config
from components.render import quoting
from components.render.bind import ZONE_SERIAL_PLACEHOLDER
from components.stack import StackPlan, plan_stack
from tests.components.clock import parse_rows, program_registrations, run_moved
from tests.components.conftest import RecordingMocks, RecordingMonitor
from tests.conftest import REPO

STACK_TYPE = "pulumi:pulumi:Stack"
SECRETS = {"sshPrivateKey": "SSH-KEY-MATERIAL", "webmailTlsKey": "TLS-KEY-MATERIAL",
           "acmeCloudflareToken": "CfToken0123456789abcdefghijklmnopqrstuv", "dkimKey_s2026a": "DKIM-KEY-MATERIAL"}


@pytest.fixture
def mocks(monkeypatch) -> RecordingMocks:
    """As tests/components/conftest.py's, with a fresh root Stack (a program calls pulumi.run once) and the
    working directory as the project directory (zonesFrom files are read from there)."""
    from pulumi.runtime import settings

    settings.ROOT.set(None)
    recording = RecordingMocks()
    pulumi.runtime.set_mocks(recording, project="isp", stack="test", preview=False, monitor=RecordingMonitor(recording))
    monkeypatch.setattr(pulumi.runtime, "get_root_directory", os.getcwd)
    # set_mocks' root Stack takes no pulumi.run entrypoint; the program's (the wait for its
    # registrations, tested in test_registrations.py) is kept for the test instead.
    recording.entrypoints = []
    monkeypatch.setattr(pulumi, "run", recording.entrypoints.append)
    return recording


def stack_document(stack: str) -> dict[str, Any]:
    """Every `isp:` key of Pulumi.<stack>.yaml (secrets left out), namespace kept, as the CLI passes them."""
    config = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    return {k: v for k, v in config.items() if k.startswith("isp:") and not (isinstance(v, dict) and "secure" in v)}


def run_program(config: dict[str, Any]) -> BaseException | None:
    """Run __main__.py once under the mocks set by the `mocks` fixture; the exception it raised, if any.

    The program's exception is caught inside the test run, so every registration it had started is
    still awaited, as the engine would still receive it."""
    values = {**config, **{f"isp:{k}": v for k, v in SECRETS.items()}}
    pulumi.runtime.set_all_config(
        {k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()},
        [f"isp:{k}" for k in SECRETS],
    )
    raised: list[BaseException] = []

    @pulumi.runtime.test
    def run():
        try:
            runpy.run_path(str(REPO / "__main__.py"), run_name="__main__")
        except Exception as error:  # noqa: BLE001 - the test looks at it
            raised.append(error)
        return pulumi.Output.from_input(1)

    run()
    return raised[0] if raised else None


def registered(mocks) -> list[tuple[str, str]]:
    return [(r.type, r.name) for r in mocks.resources if r.type != STACK_TYPE]


def _plan(stack: str, values: dict | None = None) -> StackPlan:
    cfg = parse_stack_config(values or {k.removeprefix("isp:"): v for k, v in stack_document(stack).items()})
    return plan_stack(cfg, lambda key: f"<secret {key}>", stack=stack, stack_file=f"Pulumi.{stack}.yaml")


# ---------------------------------------------------------------------------------------
# The plan: pure, complete, each file rendered once


@pytest.mark.parametrize("stack", ["dev", "prod", "lab"])
def test_the_plan_renders_every_component_before_any_is_registered(stack):
    plan = _plan(stack)
    kinds = [p.component.__name__ for p in plan.components]
    # The order the program has always registered in.
    order = ["DnsZone", "ReverseZone", "NameServer", "MailHost", "WebHost", "DatabaseBackup", "Gateway"]
    assert kinds == sorted(kinds, key=order.index)
    assert {"NameServer", "MailHost", "WebHost", "DatabaseBackup", "Gateway"} <= set(kinds)
    assert ("DnsZone" in kinds) is (stack != "lab")  # the lab's BIND serves its forward zones
    for planned in plan.components:
        if hasattr(type(planned.args), "rendered"):
            assert "rendered" in planned.args.__dict__, f"{planned.name}: rendered at registration, not planned"


def test_each_file_is_rendered_once(mocks, monkeypatch):
    import components.mail_host as mail_host

    calls = []
    real = mail_host.render_postfix_main_cf
    monkeypatch.setattr(mail_host, "render_postfix_main_cf", lambda **kw: calls.append(kw) or real(**kw))
    assert run_program(stack_document("prod")) is None
    assert len(calls) == len(parse_stack_config(
        {k.removeprefix("isp:"): v for k, v in stack_document("prod").items()}).hosts_with("mail"))
    types = {t for t, _ in registered(mocks)}
    assert {"isp:mail:MailHost", "isp:network:Gateway", "command:remote:CopyToRemote"} <= types


def test_the_program_registers_the_whole_stack(mocks):
    assert run_program(stack_document("dev")) is None
    names = set(registered(mocks))  # recorded as the monitor's threads answer: order not asserted here
    for component in (("isp:dns:DnsZone", "example.org"), ("isp:dns:NameServer", "ns1"), ("isp:mail:MailHost", "mail"),
                      ("isp:web:WebHost", "www"), ("isp:db:DatabaseBackup", "db"), ("isp:network:Gateway", "gw")):
        assert component in names


# ---------------------------------------------------------------------------------------
# A value that passes the model but a renderer refuses: nothing registered, the key named


def _host(config: dict, name: str) -> dict:
    return next(h for h in config["isp:hosts"] if h["name"] == name)


def _refusing(monkeypatch, function: str, refused: Any) -> None:
    """Make quoting.<function> refuse exactly `refused`, as a renderer's tighter grammar would."""
    real = getattr(quoting, function)

    def check(value, parameter, *args, **kwargs):
        if str(value) == str(refused):
            raise quoting.RenderValueError(parameter, value, "is refused by this renderer's grammar")
        return real(value, parameter, *args, **kwargs)

    monkeypatch.setattr(quoting, function, check)


def _with_ipv6_mail(config: dict) -> None:
    config["isp:networks"]["publicBlocks"].append("2001:db8:30::/48")
    _host(config, "mail")["publicAddress6"] = "2001:db8:30::25"


@pytest.mark.parametrize(
    ("stack", "mutate", "refuse", "key", "shown"),
    [
        # The gateway registers last: before, everything else was already on its way to the engine.
        ("dev", lambda c: None, ("interface_name", "eth1"), "isp:gateway.serverInterface", '"eth1"'),
        ("dev", _with_ipv6_mail, ("ip_address", "2001:db8:30::25"), "isp:hosts[2].publicAddress6",
         '"2001:db8:30::25"'),
        ("prod", lambda c: None, ("fqdn", "webmail.example.net"), "isp:organization.domain", '"example.net"'),
        # No monkeypatch: values the model accepts today and BIND's zone-file renderer refuses (a dot in
        # the SOA mailbox's local part; in the lab, a quote in TXT data and a CAA record in a zone file).
        ("dev", lambda c: c["isp:organization"].update(contactEmail="first.last@example.org"), None,
         "isp:organization.contactEmail", '"first.last@example.org"'),
        ("lab", lambda c: c["isp:zones"][0].update(records=[
            {"name": "www", "type": "A", "content": "198.51.100.80"},
            {"name": "@", "type": "TXT", "content": 'say "hello"'}]), None,
         "isp:zones[0].records[1].content", None),
        ("lab", lambda c: c["isp:zones"][0].update(records=[
            {"name": "@", "type": "CAA", "content": '0 issue "letsencrypt.org"'}]), None,
         "isp:zones[0].records[0].type", None),
    ],
    ids=["gateway-interface", "publicAddress6", "domain", "contactEmail", "lab-txt-quote", "lab-caa"],
)
def test_a_refused_value_registers_nothing_and_names_its_key(mocks, monkeypatch, stack, mutate, refuse, key, shown):
    config = stack_document(stack)
    mutate(config)
    if refuse:
        _refusing(monkeypatch, *refuse)
    error = run_program(config)
    assert error is not None, "the program accepted a value a renderer refuses"
    message = str(error)
    assert registered(mocks) == [], f"registered before the refusal: {registered(mocks)[:5]}"
    assert isinstance(error, pulumi.RunError), f"{type(error).__name__}: {message}"
    assert f"Pulumi.test.yaml: invalid stack config:\n  - {key}" in message, message
    if shown:
        assert f"{key} = {shown}" in message, message
    for ours in (".py", "Traceback", "components/"):
        assert ours not in message, message


def test_a_zone_from_a_file_is_named_by_its_file_and_index(mocks, monkeypatch, tmp_path):
    (tmp_path / "zones").mkdir()
    (tmp_path / "zones" / "customers.yaml").write_text(
        "- name: customer1.example\n"
        "  records:\n"
        "    - {name: www, type: A, content: 192.0.2.10}\n"
        "- name: customer2.example\n"
        "  records:\n"
        "    - {name: www, type: A, content: 192.0.2.20}\n"
        "    - {name: '@', type: TXT, content: 'tag=\"x\"'}\n"
    )
    monkeypatch.chdir(tmp_path)  # zonesFrom is read relative to the project directory
    config = stack_document("lab")
    config["isp:zonesFrom"] = ["zones/customers.yaml"]
    error = run_program(config)
    assert error is not None
    assert registered(mocks) == []
    assert "zones/customers.yaml: [1].records[1].content" in str(error), str(error)


def test_a_secret_looking_refused_value_is_redacted(mocks):
    token = "sk_live_4eC39HqLyjWDarjtT1zdp7dc0a9Fz"
    config = stack_document("lab")
    config["isp:zones"][0]["records"] = [{"name": "@", "type": "TXT", "content": f'token="{token}"'}]
    error = run_program(config)
    assert error is not None
    assert registered(mocks) == []
    assert "isp:zones[0].records[0].content" in str(error)
    assert token not in str(error) and "4eC39HqLyjWD" not in str(error)


def test_plan_stack_raises_config_error_without_pulumi(monkeypatch):
    # Pure: no engine, no mocks. The refusal is a ConfigError, as load_stack_config's errors are.
    values = {k.removeprefix("isp:"): v for k, v in stack_document("dev").items()}
    _refusing(monkeypatch, "interface_name", "eth2")
    with pytest.raises(ConfigError) as raised:
        _plan("dev", values)
    assert 'isp:gateway.customerInterface = "eth2": is refused by this renderer' in str(raised.value)



# ---------------------------------------------------------------------------------------
# The same config, the same registrations: on any day, in any time zone, with any hash seed


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_program_registers_the_same_inputs_on_any_day(stack):
    """A daily preview of an unchanged config shows no change: nothing the program registers depends on the
    clock, the time zone or set order (each run is a fresh interpreter, __main__.py under Pulumi's mocks)."""
    code = program_registrations(stack, SECRETS)
    now = parse_rows(run_moved(code, days=0))
    later = parse_rows(run_moved(code, days=400.3, tz="Pacific/Kiritimati", hash_seed=12345))
    assert len(now) > 50 and now == later
    zones = [inputs["source"]["asset"] for kind, name, _, _, inputs in now
             if kind == "command:remote:CopyToRemote" and "-bind-db." in name]
    assert zones and all(f"( {ZONE_SERIAL_PLACEHOLDER} 3600" in text for text in zones)
