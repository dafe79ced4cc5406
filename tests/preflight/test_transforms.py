"""preflight.transforms: a registration as resource transforms see it, and as they leave it."""

from __future__ import annotations

from google.protobuf import struct_pb2
from pulumi.runtime.proto import alias_pb2, resource_pb2

from preflight.transforms import transform_options, transformed_request


def _request() -> resource_pb2.RegisterResourceRequest:
    request = resource_pb2.RegisterResourceRequest(
        type="testcomponent:index:Component", name="component", parent="urn:parent", remote=True,
        dependencies=["urn:a"], ignoreChanges=["x"], version="1.2.3", provider="urn:p::id",
        additionalSecretOutputs=["s"], aliases=[alias_pb2.Alias(urn="urn:old")],
    )
    request.object.update({"bar": {"keepers": {"hello": "world"}}})
    request.protect = True
    return request


def test_options_carry_what_the_request_asked_for():
    options = transform_options(_request())
    assert list(options.depends_on) == ["urn:a"] and list(options.ignore_changes) == ["x"]
    assert options.version == "1.2.3" and options.provider == "urn:p::id" and options.protect
    assert not options.HasField("delete_before_replace")  # unset stays unset


def test_what_the_transforms_changed_reaches_the_request_and_nothing_else_changes():
    request = _request()
    options = transform_options(request)
    options.protect = False
    options.depends_on.append("urn:b")
    options.delete_before_replace = True
    options.custom_timeouts.create = "5m"
    properties = struct_pb2.Struct()
    properties.update({"bar": {"keepers": {"hello": "transformed"}}})

    result = transformed_request(request, properties, options)

    assert result.object["bar"]["keepers"]["hello"] == "transformed"
    assert list(result.dependencies) == ["urn:a", "urn:b"] and result.protect is False
    assert result.deleteBeforeReplace and result.deleteBeforeReplaceDefined
    assert result.customTimeouts.create == "5m"
    assert (result.type, result.name, result.parent, result.remote) == (
        request.type, request.name, request.parent, True)
    assert list(result.aliases) == list(request.aliases) and list(result.ignoreChanges) == ["x"]
    assert request.object["bar"]["keepers"]["hello"] == "world"  # the original is left as it was


def test_untouched_options_give_back_the_same_request():
    request = _request()
    assert transformed_request(request, request.object, transform_options(request)) == request
