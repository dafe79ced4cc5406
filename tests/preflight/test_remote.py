"""preflight/remote.py: a remote component built by its real provider process, as the engine's Construct does.

The provider is upstream's test component transcribed to Python
(tests/preflight/remote_fixtures/testcomponent, from pulumi/pulumi-policy
tests/integration/remote_component/testcomponent/main.go); the program is upstream's
remote_component/program (index.ts, component.ts) in Python.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from google.protobuf import empty_pb2, struct_pb2
from google.protobuf.json_format import MessageToDict, ParseDict
from pulumi.runtime import mocks, settings
from pulumi.runtime.proto import resource_pb2

from preflight import remote
from preflight.model import OUTPUT_VALUE_SIG, SIG_KEY, UNKNOWN, secret
from preflight.plan import UNKNOWN_TEXT

REPO = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "remote_fixtures"
PLUGIN_DIR = FIXTURES / "testcomponent"
STACK_URN = "urn:pulumi:dev::remote_component::pulumi:pulumi:Stack::remote_component-dev"
RANDOM_URN = "urn:pulumi:dev::remote_component::random:index:RandomString::random"
COMPONENT_URN = "urn:pulumi:dev::remote_component::testcomponent:index:Component::component"


class RecordingEngineStub:
    def __init__(self):
        self.logs: list[tuple[int, str, str]] = []

    def Log(self, request):  # noqa: N802 - gRPC method name
        self.logs.append((int(request.severity), request.message, request.urn))


class MinimalMonitor(mocks.MockMonitor):
    """What construct() needs of the program's monitor: its identity, config, and its gRPC methods."""

    def __init__(self):
        super().__init__(None)  # type: ignore[arg-type]
        self.project, self.stack = "remote_component", "dev"
        self.config: dict[str, str] = {"testcomponent:flavour": "plain", "other:key": "x"}
        self.secret_keys: list[str] = []
        self.lock = threading.Lock()
        self.registered: list[resource_pb2.RegisterResourceRequest] = []
        self.outputs: dict[str, dict] = {}
        self.engine = RecordingEngineStub()
        self.threads: set[str] = set()

    def make_urn(self, parent, type_, name):
        qualified = type_
        if parent and parent != STACK_URN:
            qualified = parent.split("::")[2] + "$" + type_
        return f"urn:pulumi:{self.stack}::{self.project}::{qualified}::{name}"

    def default_provider_reference(self, package, version, download_url):
        return ""  # no provider resource registered: construct() takes the package's config from the stack's

    def RegisterResource(self, request):  # noqa: N802
        with self.lock:
            self.registered.append(request)
            self.threads.add(threading.current_thread().name)
        urn = self.make_urn(request.parent, request.type, request.name)
        return resource_pb2.RegisterResourceResponse(urn=urn, object=request.object)

    def RegisterResourceOutputs(self, request):  # noqa: N802
        with self.lock:
            self.outputs[request.urn] = MessageToDict(request.outputs)
        return empty_pb2.Empty()

    def by_name(self, name):
        return next(r for r in self.registered if r.name == name)


def _component_request(inputs: dict, **options) -> resource_pb2.RegisterResourceRequest:
    request = resource_pb2.RegisterResourceRequest(
        type="testcomponent:index:Component", name="component", parent=STACK_URN, remote=True,
        supportsPartialValues=True, acceptSecrets=True, acceptResources=True,
        object=ParseDict(inputs, struct_pb2.Struct()), **options)
    request.propertyDependencies["bar"].urns.append(RANDOM_URN)
    return request


UPSTREAM_INPUTS = {"bar": {"keepers": {"hello": "world", "hi": UNKNOWN}}}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project whose Pulumi.yaml names the fixture provider; no other plugin anywhere."""
    root = tmp_path / "project"
    root.mkdir()
    plugin_path = os.path.relpath(PLUGIN_DIR, root)
    (root / "Pulumi.yaml").write_text(
        f"name: remote_component\nruntime: python\nplugins:\n  providers:\n"
        f"    - name: testcomponent\n      path: {plugin_path}\n", encoding="utf-8")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("PULUMI_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(settings.SETTINGS, "root_directory", str(root))
    monkeypatch.setattr(settings.SETTINGS, "dry_run", True)
    monkeypatch.setattr(settings.SETTINGS, "organization", "organization")
    return root


def test_construct_registers_the_providers_children_with_the_unknown_kept_at_its_leaf(project):
    monitor = MinimalMonitor()
    response = remote.construct(monitor, _component_request(UPSTREAM_INPUTS))

    component = monitor.by_name("component")
    assert (component.type, component.parent, component.custom) == ("testcomponent:index:Component", STACK_URN, False)
    inner = monitor.by_name("innerRandom")
    assert (inner.type, inner.parent, inner.custom) == ("random:index/randomString:RandomString", COMPONENT_URN, True)
    keepers = MessageToDict(inner.object)["keepers"]
    assert keepers == {"hello": "world", "hi": UNKNOWN}
    assert monitor.outputs[COMPONENT_URN] == {}
    # Construct's urn and state are the component's RegisterResourceResponse.
    assert response.urn == COMPONENT_URN
    assert MessageToDict(response.object) == {"greeting": "hello from the provider"}
    assert dict(response.propertyDependencies) and list(response.propertyDependencies["greeting"].urns) == []
    # The provider reached the monitor over gRPC, from the server's worker threads.
    assert monitor.threads and threading.current_thread().name not in monitor.threads


def test_provider_logs_reach_the_programs_engine(project):
    monitor = MinimalMonitor()
    remote.construct(monitor, _component_request({**UPSTREAM_INPUTS, "logMessage": "built offline"}))
    assert (2, "built offline", COMPONENT_URN) in monitor.engine.logs


def test_no_plugin_for_the_package_is_none(project):
    (project / "Pulumi.yaml").write_text("name: remote_component\nruntime: python\n", encoding="utf-8")
    monitor = MinimalMonitor()
    assert remote.construct(monitor, _component_request(UPSTREAM_INPUTS)) is None
    assert monitor.registered == []


def test_a_failing_construct_names_the_component_the_plugin_and_the_reason(project):
    monitor = MinimalMonitor()
    with pytest.raises(remote.RemoteComponentError) as failure:
        remote.construct(monitor, _component_request({**UPSTREAM_INPUTS, "failWith": "no such flavour"}))
    message = str(failure.value)
    assert "testcomponent:index:Component 'component'" in message
    assert "pulumi-resource-testcomponent" in message
    assert "no such flavour" in message


def _plugin_script(project: Path, body: str) -> None:
    plugin = project / "fake" / "pulumi-resource-testcomponent"
    plugin.parent.mkdir()
    plugin.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    plugin.chmod(0o755)
    (project / "Pulumi.yaml").write_text(
        "name: remote_component\nruntime: python\nplugins:\n  providers:\n"
        "    - name: testcomponent\n      path: fake\n", encoding="utf-8")


def test_a_plugin_exiting_before_its_port_is_an_error_quoting_its_stderr(project):
    _plugin_script(project, "echo 'cannot start: missing runtime' >&2\nexit 3")
    with pytest.raises(remote.RemoteComponentError) as failure:
        remote.construct(MinimalMonitor(), _component_request(UPSTREAM_INPUTS))
    message = str(failure.value)
    assert "exit status 3" in message and "cannot start: missing runtime" in message
    assert "'component'" in message


def test_a_plugin_printing_no_port_is_stopped_after_the_start_timeout(project, monkeypatch):
    _plugin_script(project, "echo $$ > \"$(dirname \"$0\")/pid\"\nexec sleep 600")
    monkeypatch.setattr(remote, "PLUGIN_START_TIMEOUT", 0.5)
    with pytest.raises(remote.RemoteComponentError, match="printed no port"):
        remote.construct(MinimalMonitor(), _component_request(UPSTREAM_INPUTS))
    pid = int((project / "fake" / "pid").read_text(encoding="utf-8"))
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped


def test_a_plugin_writing_garbage_for_its_port_is_an_error(project):
    _plugin_script(project, "echo 'listening soon'\nexec sleep 600")
    with pytest.raises(remote.RemoteComponentError, match="invalid port"):
        remote.construct(MinimalMonitor(), _component_request(UPSTREAM_INPUTS))


def test_inputs_are_upgraded_to_output_values_as_resmon_unmarshals_them():
    wire = {"a": UNKNOWN, "b": secret({"c": UNKNOWN}), "d": [1, "x"], "e": {SIG_KEY: "asset", "text": UNKNOWN}}
    assert remote.upgrade_to_output_values(wire) == {
        "a": {SIG_KEY: OUTPUT_VALUE_SIG},
        "b": {SIG_KEY: OUTPUT_VALUE_SIG, "secret": True, "value": {"c": {SIG_KEY: OUTPUT_VALUE_SIG}}},
        "d": [1, "x"],
        "e": {SIG_KEY: "asset", "text": UNKNOWN},
    }


def test_output_values_in_constructs_state_are_downgraded_and_their_dependencies_kept():
    dependencies: list[str] = ["urn:a"]
    state = {"x": {SIG_KEY: OUTPUT_VALUE_SIG, "dependencies": ["urn:b", "urn:a"]},
             "y": [{SIG_KEY: OUTPUT_VALUE_SIG, "secret": True, "value": 3, "dependencies": ["urn:c"]}]}
    assert remote.downgrade_output_values(state, dependencies) == {"x": UNKNOWN, "y": [secret(3)]}
    assert dependencies == ["urn:a", "urn:b", "urn:c"]


def test_a_program_with_a_remote_component_previews_with_its_children(tmp_path):
    """End to end through `python -m preflight preview`, as upstream's remote_component test runs."""
    project = tmp_path / "program"
    project.mkdir()
    shutil.copy(FIXTURES / "program" / "__main__.py", project / "__main__.py")
    (project / "Pulumi.yaml").write_text(
        "name: remote_component\nruntime: python\nplugins:\n  providers:\n"
        f"    - name: testcomponent\n      path: {os.path.relpath(PLUGIN_DIR, project)}\n", encoding="utf-8")
    (project / "Pulumi.dev.yaml").write_text("config: {}\n", encoding="utf-8")
    out = tmp_path / "out.json"
    run = subprocess.run([sys.executable, "-m", "preflight", "preview", "--cwd", str(project), "--stack", "dev",
                          "--json", str(out)], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(out.read_text(encoding="utf-8"))
    resources = {r["urn"]: r for r in report["resources"]}
    inner_urn = ("urn:pulumi:dev::remote_component::testcomponent:index:Component"
                 "$random:index/randomString:RandomString::innerRandom")
    assert inner_urn in resources, sorted(resources)
    inner = resources[inner_urn]
    assert inner["parent"] == COMPONENT_URN
    assert inner["inputs"]["keepers"]["hello"] == "world"
    assert inner["inputs"]["keepers"]["hi"] == UNKNOWN_TEXT
    # The engine asks for the package's default provider before Construct.
    assert "urn:pulumi:dev::remote_component::pulumi:providers:testcomponent::default" in resources
