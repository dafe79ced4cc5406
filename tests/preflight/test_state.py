"""Reading and writing a stack's checkpoint (preflight/state.py), in the shape `pulumi stack export` writes.

The real sample: `checkpoints/pulumi-checkpoint-secrets.json` is pulumi/pulumi's own
pkg/resource/stack/testdata/checkpoint-secrets.json (commit 87b3f44590d6ba4568ac6d645e39e03ab00c2d76,
Apache-2.0), a backend checkpoint of a real stack (30 resources, b64 secrets provider, ciphertext in
inputs and outputs). `pulumi stack export` writes that same DeploymentV3 under `deployment`
(pkg/resource/stack/deployment.go SerializeUntypedDeployment): `{"version": 3, "deployment": latest}`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from preflight.model import ASSET_SIG, SECRET_SIG, SIG_KEY, UNKNOWN, Registration
from preflight.state import (
    StateError,
    checkpoint_document,
    derived_id,
    from_checkpoint,
    read_checkpoint,
    to_checkpoint,
    write_checkpoint,
)
from preflight.steps import secret_ciphertext

SAMPLE = Path(__file__).resolve().parent / "checkpoints" / "pulumi-checkpoint-secrets.json"
PROJECT, STACK = "countdown", "foo"
ROLE = "urn:pulumi:foo::countdown::aws:iam/role:Role::countDown_watcher-iamrole"


def exported(tmp_path: Path) -> Path:
    """The sample as `pulumi stack export --file` writes it."""
    latest = json.loads(SAMPLE.read_text())["checkpoint"]["latest"]
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"version": 3, "deployment": latest}, indent=4))
    return path


def write(tmp_path: Path, document: object, name: str = "state.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def resource(urn: str = "urn:pulumi:dev::isp::cloudflare:index/zone:Zone::example.org-zone", **fields: object) -> dict:
    entry = {"urn": urn, "custom": True, "id": "zone-1", "type": urn.split("::")[2].rsplit("$", 1)[-1]}
    entry.update(fields)
    return entry


def deployment(*resources: dict, **extra: object) -> dict:
    return {"version": 3, "deployment": {"manifest": {"time": "2026-01-01T00:00:00Z", "magic": "", "version": ""},
                                         "resources": list(resources), **extra}}


def refusal(tmp_path: Path, document: object, project: str = "isp", stack: str = "dev") -> str:
    path = write(tmp_path, document)
    with pytest.raises(StateError) as caught:
        read_checkpoint(path, project=project, stack=stack)
    message = str(caught.value)
    assert str(path) in message and "Traceback" not in message
    return message


# ---------------------------------------------------------------------------------------------------
# The real sample


def test_the_real_export_is_read_in_checkpoint_order(tmp_path):
    checkpoint = read_checkpoint(exported(tmp_path), project=PROJECT, stack=STACK)
    assert len(checkpoint.resources) == 30
    assert checkpoint.resources[0].urn == "urn:pulumi:foo::countdown::aws:sns/topic:Topic::countDown"
    role = checkpoint.get(ROLE)
    assert role is not None and role.custom and role.id == "countDown_watcher-iamrole-bf695eb09a5c3e28"
    assert role.parent == "urn:pulumi:foo::countdown::aws:serverless:Function::countDown_watcher"
    # Secrets stay as the checkpoint holds them: ciphertext preflight cannot open.
    assert role.inputs["assumeRolePolicy"][SIG_KEY] == SECRET_SIG and "ciphertext" in role.inputs["assumeRolePolicy"]
    assert role.outputs["path"] == "/"
    component = checkpoint.get("urn:pulumi:foo::countdown::cloud:topic:Topic::countDown")
    assert component is not None and not component.custom and component.id == "" and component.inputs == {}
    assert checkpoint.get("urn:pulumi:foo::countdown::nothing:here:Here::x") is None
    assert checkpoint.warnings == ()


def test_the_real_export_of_another_stack_or_project_is_refused(tmp_path):
    path = exported(tmp_path)
    for project, stack in (("isp", "foo"), ("countdown", "prod")):
        with pytest.raises(StateError) as caught:
            read_checkpoint(path, project=project, stack=stack)
        message = str(caught.value)
        assert "stack 'foo' of project 'countdown'" in message and f"stack '{stack}' of project '{project}'" in message
        assert f"pulumi stack export --stack {stack}" in message


def test_the_backend_file_itself_is_refused_with_the_export_command(tmp_path):
    message = refusal(tmp_path, SAMPLE.read_text(), project=PROJECT, stack=STACK)
    assert "backend checkpoint file" in message and "pulumi stack export --file" in message


# ---------------------------------------------------------------------------------------------------
# Refusals: one paragraph naming the file and what is wrong, no value from it


@pytest.mark.parametrize(("text", "said"), [
    ("", "is empty"),
    ("{\"version\": 3, \"deployment\": {", "is not JSON (line 1"),
    ("version: 3\ndeployment: {}\n", "is not JSON"),
    ("[1, 2]", "holds a list"),
    ("{\"deployment\": {}}", "no deployment `version`"),
    ("{\"version\": \"3\", \"deployment\": {}}", "no deployment `version`"),
    ("{\"version\": 2, \"deployment\": {}}", "version 2 deployment, an older format"),
    ("{\"version\": 7, \"deployment\": {}}", "version 7 deployment, a format preflight does not know"),
    ("{\"version\": 4, \"features\": [\"taint\", \"hooks\"], \"deployment\": {}}", "features: taint, hooks"),
    ("{\"version\": 3, \"deployment\": []}", "`deployment` must be an object"),
    ("{\"version\": 3, \"deployment\": {\"resources\": {}}}", "`deployment.resources` must be a list"),
])
def test_what_is_not_an_export_is_refused(tmp_path, text, said):
    assert said in refusal(tmp_path, text)


def test_text_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "state.json"
    path.write_bytes(b"{\"version\": 3, \"deployment\": {\"x\": \"\xff\"}}")
    with pytest.raises(StateError, match="not UTF-8"):
        read_checkpoint(path, project="isp", stack="dev")


def test_a_missing_file_and_a_directory_are_refused(tmp_path):
    with pytest.raises(StateError, match="cannot read the checkpoint"):
        read_checkpoint(tmp_path / "absent.json", project="isp", stack="dev")
    with pytest.raises(StateError, match="is a directory"):
        read_checkpoint(tmp_path, project="isp", stack="dev")


SECRET = "hunter2-do-not-print"


@pytest.mark.parametrize(("entry", "said"), [
    ("not a resource", "resource #1: must be an object, not a string"),
    # pulumi/pulumi's own pkg/backend/httpstate/testdata/snapshot_test.json sends this resource.
    ({"urn": "urn-1", "custom": False, "type": ""}, "`urn` is not a Pulumi URN"),
    (resource(custom="yes"), "`custom` must be true or false, not a string"),
    (resource(id={"password": SECRET}), "`id` must be a string, not an object"),
    (resource(type="cloudflare:index/record:Record"), "is not the type its URN names"),
    (resource(type=None), "`type` must be the resource's type token"),
    (resource(inputs=[SECRET]), "`inputs` must be an object, not a list"),
    (resource(outputs=SECRET), "`outputs` must be an object, not a string"),
    (resource(protect="true"), "`protect` must be true or false"),
    (resource(parent="urn:pulumi:prod::isp::pulumi:pulumi:Stack::isp-prod"), "not of stack 'dev'"),
    (resource(provider="default"), "`provider` must be a provider reference"),
    (resource(dependencies=["urn:pulumi:dev::isp::a:b:C::x", 3]), "`dependencies` must be a list of strings"),
    (resource(propertyDependencies={"zoneId": SECRET}), "`propertyDependencies` must map each property"),
])
def test_a_malformed_resource_is_named_with_what_is_wrong(tmp_path, entry, said):
    message = refusal(tmp_path, deployment(entry))
    assert said in message
    assert SECRET not in message


def test_a_urn_twice_is_refused(tmp_path):
    message = refusal(tmp_path, deployment(resource(), resource(id="zone-2")))
    assert "resource #2 (urn:pulumi:dev::isp::cloudflare:index/zone:Zone::example.org-zone)" in message
    assert "already the URN of an earlier resource" in message


def test_nulls_the_engine_writes_are_read_as_nothing(tmp_path):
    entry = resource(inputs=None, propertyDependencies={"assumeRolePolicy": None}, dependencies=None, parent="")
    checkpoint = read_checkpoint(write(tmp_path, deployment(entry)), project="isp", stack="dev")
    (prior,) = checkpoint.resources
    assert prior.inputs == {} and prior.dependencies == () and prior.parent is None


def test_a_stack_never_deployed_has_no_resources(tmp_path):
    for document in ({"version": 3}, {"version": 3, "deployment": None}, deployment()):
        assert read_checkpoint(write(tmp_path, document), project="isp", stack="dev").resources == ()


def test_pending_deletions_and_reads_are_kept_apart(tmp_path):
    old = resource(id="zone-old", delete=True)
    live = resource(id="zone-new", protect=True)
    read = resource("urn:pulumi:dev::isp::cloudflare:index/zone:Zone::imported", external=True)
    checkpoint = read_checkpoint(write(tmp_path, deployment(old, live, read)), project="isp", stack="dev")
    assert [r.id for r in checkpoint.resources] == ["zone-new"]
    assert checkpoint.get(live["urn"]).protect
    assert [r.id for r in checkpoint.pending_deletion] == ["zone-old"] and checkpoint.pending_deletion[0].delete
    assert [r.urn for r in checkpoint.external] == [read["urn"]]
    assert any("marked for deletion" in w and live["urn"] in w for w in checkpoint.warnings)


def test_pending_operations_give_the_warning_of_the_cli(tmp_path):
    operation = {"resource": resource(), "type": "creating"}
    checkpoint = read_checkpoint(write(tmp_path, deployment(pending_operations=[operation])),
                                 project="isp", stack="dev")
    (warning,) = checkpoint.warnings
    # pkg/resource/deploy/deployment_executor.go printPendingOperationsWarning
    assert warning.startswith("Attempting to deploy or update resources with 1 pending operations from previous "
                              "deployment.\n  * urn:pulumi:dev::isp::cloudflare:index/zone:Zone::example.org-zone, "
                              "interrupted while creating\n")
    assert "`pulumi refresh`" in warning
    assert "pending operation #1" in refusal(tmp_path, deployment(pending_operations=[{"type": "exploding"}]))


# ---------------------------------------------------------------------------------------------------
# Writing


def secret(value: object) -> dict:
    return {SIG_KEY: SECRET_SIG, "value": value}


def registrations() -> list[Registration]:
    stack = Registration(urn="urn:pulumi:dev::isp::pulumi:pulumi:Stack::isp-dev", type="pulumi:pulumi:Stack",
                         name="isp-dev", custom=False, outputs={"zones": ["example.org"]})
    zone_urn = "urn:pulumi:dev::isp::cloudflare:index/zone:Zone::example.org-zone"
    zone = Registration(urn=zone_urn, type="cloudflare:index/zone:Zone", name="example.org-zone", custom=True,
                        parent=stack.urn, protect=True, id=derived_id(zone_urn),
                        provider="urn:pulumi:dev::isp::pulumi:providers:cloudflare::default_6_23_0::p1",
                        inputs={"name": "example.org", "ttl": 300.0, "token": secret("preflight-secret-x-1")},
                        outputs={"name": "example.org", "ttl": 300.0, "token": secret("preflight-secret-x-1"),
                                 "id": derived_id(zone_urn)},
                        property_dependencies={"name": []}, ignore_changes=["ttl"])
    copy = Registration(urn="urn:pulumi:dev::isp::command:remote:CopyToRemote::conf",
                        type="command:remote:CopyToRemote", name="conf", custom=True, id="c1",
                        dependencies=[zone_urn], inputs={"source": {SIG_KEY: ASSET_SIG, "text": "zone data\n"}})
    return [stack, zone, copy]


def test_a_written_checkpoint_reads_back_as_what_was_registered(tmp_path):
    path = tmp_path / "out" / "state.json"
    write_checkpoint(path, checkpoint_document(registrations(), time="2026-02-03T04:05:06Z"))
    text = path.read_text()
    assert "preflight-secret" not in text  # never in clear
    document = json.loads(text)
    assert document["version"] == 3 and document["deployment"]["manifest"]["time"] == "2026-02-03T04:05:06Z"
    assert document["deployment"]["secrets_providers"]["type"] == "preflight"
    checkpoint = read_checkpoint(path, project="isp", stack="dev")
    stack, zone, copy = checkpoint.resources
    assert stack.outputs == {"zones": ["example.org"]} and not stack.custom and stack.id == ""
    assert zone.protect and zone.parent == stack.urn and zone.id == derived_id(zone.urn)
    assert zone.provider.endswith("::p1")
    assert zone.inputs["ttl"] == 300 and type(zone.inputs["ttl"]) is int  # as Go writes a whole float64
    assert zone.inputs["token"] == {SIG_KEY: SECRET_SIG, "ciphertext": secret_ciphertext("preflight-secret-x-1")}
    assert zone.raw["ignoreChanges"] == ["ttl"] and zone.raw["propertyDependencies"] == {"name": []}
    assert copy.dependencies == (zone.urn,)
    # The engine records a text asset's SHA-256.
    assert copy.inputs["source"]["hash"] == hashlib.sha256(b"zone data\n").hexdigest()
    assert not list(tmp_path.glob("out/.state.json.*"))  # nothing half-written left beside it


def test_old_values_reach_the_program_as_a_preview_would_give_them():
    sealed = {SIG_KEY: SECRET_SIG, "ciphertext": "v1:abc"}
    opened = {SIG_KEY: SECRET_SIG, "plaintext": json.dumps({"user": "deploy"})}
    asset = {SIG_KEY: ASSET_SIG, "hash": "00", "text": "a"}
    assert from_checkpoint({"a": sealed, "b": [opened], "c": asset, "d": 1}) == {
        "a": secret(UNKNOWN), "b": [secret({"user": "deploy"})], "c": {SIG_KEY: ASSET_SIG, "text": "a"}, "d": 1}
    assert to_checkpoint(sealed) == sealed  # an old ciphertext is kept, never re-sealed


def test_derived_ids_are_stable_and_a_replacement_gets_a_new_one():
    urn = "urn:pulumi:dev::isp::cloudflare:index/zone:Zone::example.org-zone"
    assert derived_id(urn) == derived_id(urn) != derived_id(urn.replace("example.org", "example.net"))
    assert derived_id(urn, "old-id") != derived_id(urn)
