"""Resource transforms' view of a registration, both ways, as resmon builds it (pulumi/pulumi
pkg/resource/deploy/source_eval.go, RegisterResource: the TransformResourceOptions a transform is given, and
the request the transforms leave, which a remote component's Construct receives)."""

from __future__ import annotations

from typing import Any

from pulumi.runtime.proto import resource_pb2


def transform_options(request: Any) -> Any:
    """The TransformResourceOptions resmon builds from a registration request."""
    options = resource_pb2.TransformResourceOptions(
        depends_on=list(request.dependencies),
        ignore_changes=list(request.ignoreChanges),
        replace_on_changes=list(request.replaceOnChanges),
        version=request.version,
        aliases=list(request.aliases),
        provider=request.provider,
        providers=dict(request.providers),
        plugin_download_url=request.pluginDownloadURL,
        deleted_with=request.deletedWith,
        additional_secret_outputs=list(request.additionalSecretOutputs),
    )
    if request.HasField("protect"):
        options.protect = request.protect
    if request.HasField("retainOnDelete"):
        options.retain_on_delete = request.retainOnDelete
    # resmon: set when the SDK says so, or when it is true (the Go SDK never sets "defined").
    if request.deleteBeforeReplaceDefined or request.deleteBeforeReplace:
        options.delete_before_replace = request.deleteBeforeReplace
    if request.HasField("customTimeouts"):
        options.custom_timeouts.CopyFrom(request.customTimeouts)
    return options


def transformed_request(request: Any, properties: Any, options: Any) -> Any:
    """The registration request as the transforms left it (what resmon hands Construct)."""
    transformed = type(request)()
    transformed.CopyFrom(request)
    transformed.object.CopyFrom(properties)
    del transformed.dependencies[:]
    transformed.dependencies.extend(options.depends_on)
    for name, field in (("ignoreChanges", "ignore_changes"), ("replaceOnChanges", "replace_on_changes"),
                        ("aliases", "aliases"), ("additionalSecretOutputs", "additional_secret_outputs")):
        repeated = getattr(transformed, name)
        del repeated[:]
        repeated.extend(getattr(options, field))
    transformed.version = options.version
    transformed.provider = options.provider
    transformed.providers.clear()
    transformed.providers.update(options.providers)
    transformed.pluginDownloadURL = options.plugin_download_url
    transformed.deletedWith = options.deleted_with
    if options.HasField("protect"):
        transformed.protect = options.protect
    if options.HasField("retain_on_delete"):
        transformed.retainOnDelete = options.retain_on_delete
    if options.HasField("delete_before_replace"):
        transformed.deleteBeforeReplace = options.delete_before_replace
        transformed.deleteBeforeReplaceDefined = True
    if options.HasField("custom_timeouts"):
        transformed.customTimeouts.CopyFrom(options.custom_timeouts)
    return transformed
