"""preflight.monitor: what the engine's resource monitor answers and records at a first preview."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2
from program_helpers import run_recorded, write_program
from pulumi.runtime.proto import alias_pb2, resource_pb2

from preflight import remote
from preflight.model import INTERNAL_KEY, UNKNOWN, secret
from preflight.monitor import (
    PreviewMocks,
    alias_urns,
    default_provider_name,
    engine_urn,
    make_monitor_class,
    provider_outputs,
    timeout_seconds,
)

PREFIX = "urn:pulumi:dev::opts::"
STACK_URN = PREFIX + "pulumi:pulumi:Stack::opts-dev"
BOX_URN = PREFIX + "opts:index:Box::box"
RECORD_URN = PREFIX + "opts:index:Box$cloudflare:index/dnsRecord:DnsRecord::rec"

PROGRAM = """\
    import pulumi
    import pulumi_cloudflare as cloudflare
    from pulumi_command import local


    class Box(pulumi.ComponentResource):
        def __init__(self, name, opts=None):
            super().__init__("opts:index:Box", name, {"size": 1}, opts)


    class Widget(pulumi.ComponentResource):
        def __init__(self, name, opts=None):
            super().__init__("nowhere:index:Widget", name, {"colour": "blue"}, opts, remote=True)


    box = Box("box", pulumi.ResourceOptions(protect=True))
    zone = cloudflare.Zone("zone", account={"id": "acc"}, name="example.net", type="full")
    cloudflare.DnsRecord("rec", zone_id=zone.id, name="www", type="A", ttl=1, content="192.0.2.1",
                         opts=pulumi.ResourceOptions(
                             parent=box, ignore_changes=["comment"], delete_before_replace=False,
                             additional_secret_outputs=["createdOn"],
                             aliases=[pulumi.Alias(name="old-rec", parent=None)],
                             custom_timeouts=pulumi.CustomTimeouts(create="1m", update="1.5h", delete="90s")))
    local.Command("cmd", create="echo hi", opts=pulumi.ResourceOptions(delete_before_replace=True))
    cloudflare.Provider("explicit", api_token="token",
                        opts=pulumi.ResourceOptions(plugin_download_url="https://example.com/plugins"))
    Widget("widget")
"""


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> dict:
    program = write_program(tmp_path_factory.mktemp("opts"), {
        "Pulumi.yaml": "name: opts\nruntime: python\n",
        "Pulumi.dev.yaml": "config: {}\n",
        "__main__.py": PROGRAM,
    })
    run = run_recorded(program, env={"PATH": "/usr/bin:/bin", "PULUMI_IGNORE_AMBIENT_PLUGINS": "1",
                                     "PULUMI_HOME": str(program / ".pulumi-home")})
    assert "error" not in run, run
    run["by_urn"] = {r["urn"]: r for r in run["registrations"]}
    return run


def test_resource_options_are_recorded_as_the_engine_keeps_them(recorded):
    record = recorded["by_urn"][RECORD_URN]
    assert record["parent"] == BOX_URN and record["protect"] is True  # protect inherited from the parent
    assert record["ignore_changes"] == ["comment"]
    assert (record["delete_before_replace"], record["delete_before_replace_defined"]) == (False, True)
    assert record["additional_secret_outputs"] == ["createdOn"]
    assert record["custom_timeouts"] == {"create": 60.0, "update": 5400.0, "delete": 90.0, "read": 0.0}
    # The program's alias (no parent) and the SDK's own type alias (the current parent), as URNs.
    assert set(record["aliases"]) == {PREFIX + "cloudflare:index/dnsRecord:DnsRecord::old-rec",
                                      PREFIX + "opts:index:Box$cloudflare:index/record:Record::rec"}
    assert record["aliased_from"] == ""  # a first preview finds no old resource through them
    command = recorded["by_urn"][PREFIX + "command:local:Command::cmd"]
    assert (command["delete_before_replace"], command["delete_before_replace_defined"]) == (True, True)
    assert command["custom_timeouts"] == {"create": 0.0, "update": 0.0, "delete": 0.0, "read": 0.0}
    zone = recorded["by_urn"][PREFIX + "cloudflare:index/zone:Zone::zone"]
    assert zone["delete_before_replace_defined"] is False and zone["aliases"] == []


def test_provider_computed_outputs_are_unknown_at_a_first_preview(recorded):
    record = recorded["by_urn"][RECORD_URN]["outputs"]
    assert record["modifiedOn"] == UNKNOWN and record["proxiable"] == UNKNOWN and record["id"] == UNKNOWN
    assert record["createdOn"] == secret(UNKNOWN)  # an additional secret output, computed
    assert record["name"] == "www" and record["zoneId"] == UNKNOWN
    zone = recorded["by_urn"][PREFIX + "cloudflare:index/zone:Zone::zone"]["outputs"]
    assert zone["nameServers"] == UNKNOWN and zone["status"] == UNKNOWN
    command = recorded["by_urn"][PREFIX + "command:local:Command::cmd"]["outputs"]
    assert command["stdout"] == UNKNOWN and command["create"] == "echo hi"
    assert "stdout" not in recorded["by_urn"][PREFIX + "command:local:Command::cmd"]["inputs"]


def test_provider_resources_have_filtered_config_and_no_id(recorded):
    default = next(r for r in recorded["registrations"]
                   if r["type"] == "pulumi:providers:cloudflare" and r["name"].startswith("default_"))
    assert "id" not in default["outputs"] and default["outputs"] == default["inputs"]
    explicit = recorded["by_urn"][PREFIX + "pulumi:providers:cloudflare::explicit"]
    assert explicit["inputs"]["__internal"] == {"pluginDownloadURL": "https://example.com/plugins"}
    assert "pluginDownloadURL" not in explicit["inputs"]
    assert "id" not in explicit["outputs"] and "__internal" not in explicit["outputs"]
    assert explicit["outputs"]["apiToken"] == secret("token")


def test_remote_component_without_a_plugin_is_registered_empty_with_a_warning(recorded):
    widget = recorded["by_urn"][PREFIX + "nowhere:index:Widget::widget"]
    assert widget["custom"] is False and widget["inputs"] == {"colour": "blue"}
    warnings = [m for m in recorded["messages"] if m["severity"] == "warning"]
    assert len(warnings) == 1 and warnings[0]["urn"] == widget["urn"]
    assert "nowhere:index:Widget 'widget'" in warnings[0]["message"]
    assert "not analysed" in warnings[0]["message"] and "'nowhere'" in warnings[0]["message"]


def test_an_unparsable_custom_timeout_fails_the_program(tmp_path):
    program = write_program(tmp_path, {
        "Pulumi.yaml": "name: opts\nruntime: python\n",
        "Pulumi.dev.yaml": "config: {}\n",
        "__main__.py": """\
            import pulumi
            from pulumi_command import local
            local.Command("cmd", create="true",
                          opts=pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create="5 minutes")))
        """,
    })
    run = run_recorded(program)
    assert "unable to parse customTimeout Value 5 minutes" in run["error"]


# -- in this process: the monitor's parts --------------------------------------------------------------


class _Engine:
    def __init__(self):
        self.logged = []

    def Log(self, request):  # noqa: N802 - the engine's gRPC method
        self.logged.append(request)


def _monitor(engine=None):
    return make_monitor_class()(PreviewMocks(), project="opts", stack="dev", config={}, secret_keys=[],
                                engine=engine or _Engine())


def _widget_request():
    properties = struct_pb2.Struct()
    properties.update({"colour": "blue"})
    return resource_pb2.RegisterResourceRequest(type="nowhere:index:Widget", name="widget", parent=STACK_URN,
                                                object=properties, remote=True)


def test_a_constructed_remote_component_is_returned_and_not_recorded_again(monkeypatch):
    answer = resource_pb2.RegisterResourceResponse(urn=PREFIX + "nowhere:index:Widget::widget")
    calls = []
    monkeypatch.setattr(remote, "construct", lambda monitor, request: calls.append(request) or answer)
    engine = _Engine()
    monitor = _monitor(engine)
    assert monitor.RegisterResource(_widget_request()) is answer
    assert len(calls) == 1 and monitor.registrations == [] and engine.logged == []


def test_remote_component_without_a_provider_warns_and_registers(monkeypatch):
    monkeypatch.setattr(remote, "construct", lambda monitor, request: None)
    engine = _Engine()
    monitor = _monitor(engine)
    response = monitor.RegisterResource(_widget_request())
    assert response.urn == PREFIX + "nowhere:index:Widget::widget"
    assert [(r.type, r.custom, r.inputs) for r in monitor.registrations] == [
        ("nowhere:index:Widget", False, {"colour": "blue"})]
    assert [(m.severity, m.urn) for m in engine.logged] == [(2, response.urn)]


@pytest.mark.parametrize(("text", "seconds"), [
    ("1m", 60.0), ("1.5h", 5400.0), ("90s", 90.0), ("1h30m", 5400.0), ("250ms", 0.25), ("0", 0.0),
    (".5s", 0.5), ("2us", 2e-6), ("-1m", -60.0),
])
def test_timeouts_parse_as_go_durations(text, seconds):
    assert timeout_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["5", "5 minutes", "1d", "m", "1m5", "."])
def test_timeouts_go_would_reject_are_rejected(text):
    with pytest.raises(ValueError, match=f"unable to parse customTimeout Value {text}"):
        timeout_seconds(text)


def test_alias_specs_collapse_to_urns_as_the_step_generator_does():
    def spec(**fields):
        return alias_pb2.Alias(spec=alias_pb2.Alias.Spec(**fields))

    aliases = [
        spec(name="old"),  # the current parent, the current type
        spec(type="pkg:index:Old", noParent=True),
        spec(parentUrn=STACK_URN),  # the Stack as parent: no prefix
        spec(stack="prod", project="other", noParent=True),
        alias_pb2.Alias(urn=PREFIX + "pkg:index:Thing::given"),
        spec(name="old"),  # a duplicate
    ]
    assert alias_urns(aliases, name="thing", type_="pkg:index:Thing", parent=BOX_URN, project="opts",
                      stack="dev") == [
        PREFIX + "opts:index:Box$pkg:index:Thing::old",
        PREFIX + "pkg:index:Old::thing",
        PREFIX + "pkg:index:Thing::thing",
        "urn:pulumi:prod::other::pkg:index:Thing::thing",
        PREFIX + "pkg:index:Thing::given",
    ]


def test_urns_and_default_provider_names_are_the_engines():
    assert engine_urn("dev", "opts", STACK_URN, "pkg:index:Thing", "a") == PREFIX + "pkg:index:Thing::a"
    assert engine_urn("dev", "opts", BOX_URN, "pkg:index:Thing", "a") == PREFIX + "opts:index:Box$pkg:index:Thing::a"
    assert default_provider_name("6.23.0") == "default_6_23_0"
    assert default_provider_name("1.0.0-alpha.1+build.5") == "default_1_0_0_alpha_1_build_5"
    assert default_provider_name("", "https://get.example.com/x") == "default_https_/get.example.com/x"


def test_provider_outputs_drop_only_the_internal_key():
    assert provider_outputs({"version": "1.0.0", "apiToken": "t", INTERNAL_KEY: {}}) == {
        "version": "1.0.0", "apiToken": "t"}
