"""One running policy pack: its process and its analyzer gRPC session, as the engine drives it.

What the CLI does, and what this module repeats (pulumi/pulumi sources read):
- pkg/resource/plugin/analyzer_plugin.go, NewPolicyAnalyzer: the pack is started (see packproject and
  packtoolchain),
  its first stdout line is the gRPC port; then Handshake (UNIMPLEMENTED tolerated) and ConfigureStack.
- pkg/engine/update.go, installAndLoadPolicyPlugins: GetAnalyzerInfo, then ReconcilePolicyPackConfig
  (see packconfig) and Configure with an explicit level for every policy.
- The PulumiPolicy.yaml version replaces the pack's own (Python packs always report 0.0.1), and a
  diagnostic without severity takes its policy's severity.

Deliberate differences: pulumi.policy parses the engine address but never connects to it (its
Settings carry no engine; pulumi.log writes to stderr), so no Engine service is served. A stack
config too large for one environment variable reaches the pack through a file (the CLI fails).
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import grpc
from google.protobuf import empty_pb2, json_format
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc

from .packconfig import (
    ENFORCEMENT_LEVEL_SCHEMA,
    PolicyConfig,
    reconcile_policy_pack_config,
    validate_policy_pack_config,
)
from .packproject import fits_in_environment, pack_environment, read_pack_project
from .packtoolchain import pack_interpreter
from .redact import Redactor
from .stackconfig import scrub
from .verdicts import (
    ENFORCEMENT_LEVELS,
    LEVEL_NAMES,
    LEVEL_VALUES,
    POLICY_TYPE_NAMES,
    SEVERITY_NAMES,
    PackError,
    PolicyInfo,
    Violation,
)

PACK_START_TIMEOUT_SECONDS = 30.0
PACK_CALL_TIMEOUT_SECONDS = 300.0
PACK_STOP_GRACE_SECONDS = 3.0
STDERR_TAIL_LINES = 30

# pulumi.policy requires an engine address argument but ignores it (see the module docstring).
_UNUSED_ENGINE_ADDRESS = "127.0.0.1:0"
_MAX_MESSAGE_BYTES = 400 * 1024 * 1024  # what pulumi_policy allows itself
_GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
]


class PackSession:
    """One running policy pack: its process, its gRPC stub and what it told us about itself."""

    def __init__(self, pack_dir: Path, *, env_settings: dict, redact: Redactor) -> None:
        pack_dir = pack_dir.resolve()  # the pack runs in its own directory
        self.project = read_pack_project(pack_dir)
        self.directory = pack_dir
        self.label = f"policy pack {pack_dir}"
        self._env_settings = env_settings
        self._redact = redact
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._threads: list[threading.Thread] = []
        self.process: subprocess.Popen | None = None
        self.port = 0
        self._config_file: str | None = None
        self.channel: grpc.Channel | None = None
        self.stub: analyzer_pb2_grpc.AnalyzerStub | None = None
        self.name = pack_dir.name
        self.version = self.project.version
        self.plugin_version = ""
        self.supports_config = False
        self.policies: list[PolicyInfo] = []
        self.initial_config: dict[str, PolicyConfig] = {}
        self.effective_config: dict[str, PolicyConfig] = {}
        self._severity_by_policy: dict[str, str] = {}

    # -- life cycle ---------------------------------------------------------------------------------

    def __enter__(self) -> PackSession:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.stop()

    def _start(self) -> None:
        python, venv_dir = pack_interpreter(self.project)
        env = pack_environment(dict(os.environ), venv_dir=venv_dir, **self._env_settings)
        command = [str(python), "-u", "-m", "pulumi.policy", _UNUSED_ENGINE_ADDRESS, str(self.directory)]
        config_text = env.get("PULUMI_CONFIG", "")
        if not fits_in_environment("PULUMI_CONFIG", config_text):
            command = self._config_from_file(python, env.pop("PULUMI_CONFIG"))
        self.process = subprocess.Popen(
            command,
            cwd=self.directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        first_stdout_line: queue.Queue[str | None] = queue.Queue(maxsize=1)
        self._spawn_thread(self._drain_stderr)
        self._spawn_thread(self._drain_stdout, first_stdout_line)
        try:
            line = first_stdout_line.get(timeout=PACK_START_TIMEOUT_SECONDS)
        except queue.Empty:
            raise self.pack_error(f"did not print its gRPC port within {PACK_START_TIMEOUT_SECONDS:g} s") from None
        if line is None:
            raise self.pack_error("exited before printing its gRPC port")
        if not line.strip().isdigit():
            shown = self._redact(line.strip())[:200]
            raise self.pack_error(f"printed {shown!r} where its gRPC port was expected (first stdout line)")
        self.port = int(line)
        self.channel = grpc.insecure_channel(f"127.0.0.1:{self.port}", options=_GRPC_OPTIONS)
        try:
            grpc.channel_ready_future(self.channel).result(timeout=PACK_START_TIMEOUT_SECONDS)
        except grpc.FutureTimeoutError:
            raise self.pack_error(f"did not accept a gRPC connection on port {int(line)}") from None
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)

    def _config_from_file(self, python: Path, config_text: str) -> list[str]:
        """The command that hands the pack a stack config too large for one environment variable.

        Linux refuses to exec with a variable over 128 KiB (E2BIG), and the CLI fails here
        (pulumi/pulumi#20402). The pack gets the same PULUMI_CONFIG all the same: a bootstrap sets
        it from a private file, then runs `pulumi.policy` exactly as the command line would.
        """
        handle, path = tempfile.mkstemp(prefix="preflight-config-", suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(config_text)
        self._config_file = path
        print(
            f"preflight: note: policy pack {self.directory}: the stack config is {len(config_text)} bytes, more than "
            "one environment variable may hold, so the pack reads PULUMI_CONFIG from a file (the Pulumi CLI fails "
            "to start a pack here: pulumi/pulumi#20402)",
            file=sys.stderr,
        )
        bootstrap = (
            "import os, runpy, sys; "
            "os.environ['PULUMI_CONFIG'] = open(sys.argv[1], encoding='utf-8').read(); "
            "sys.argv = ['pulumi.policy', *sys.argv[2:]]; "
            "runpy.run_module('pulumi.policy', run_name='__main__', alter_sys=True)"
        )
        return [str(python), "-u", "-c", bootstrap, path, _UNUSED_ENGINE_ADDRESS, str(self.directory)]

    def _spawn_thread(self, target, *args) -> None:
        name = f"{target.__name__}:{self.directory.name}"
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _drain_stderr(self) -> None:
        for raw in iter(self.process.stderr.readline, b""):
            # A pack's traceback may quote what a policy read: known secrets masked, secret-looking text redacted.
            line = scrub(self._redact(raw.decode("utf-8", "replace").rstrip("\r\n")))
            self._stderr_tail.append(line)
            print(f"[{self.name}] {line}", file=sys.stderr)

    def _drain_stdout(self, first_line: queue.Queue) -> None:
        # The first line is the port; what a pack prints later is shown like its logs. Draining keeps a
        # chatty pack from blocking on a full pipe.
        port_line = self.process.stdout.readline()
        first_line.put(port_line.decode("utf-8", "replace") if port_line else None)
        for raw in iter(self.process.stdout.readline, b""):
            print(f"[{self.name}] {scrub(self._redact(raw.decode('utf-8', 'replace').rstrip()))}", file=sys.stderr)

    def stop(self) -> None:
        """Cancel, close the channel, end the process (SIGTERM, then SIGKILL after a grace period)."""
        if self.stub is not None:
            with contextlib.suppress(grpc.RpcError):  # Python packs answer UNIMPLEMENTED
                self.stub.Cancel(empty_pb2.Empty(), timeout=PACK_STOP_GRACE_SECONDS)
            self.stub = None
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=PACK_STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for thread in self._threads:
            thread.join(timeout=PACK_STOP_GRACE_SECONDS)
        if self._config_file is not None:
            with contextlib.suppress(OSError):
                os.unlink(self._config_file)
            self._config_file = None
        # A grandchild may hold the pipes open; closing one under a blocked reader would hang us.
        if self.process is not None and not any(thread.is_alive() for thread in self._threads):
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()

    def pack_error(self, what: str) -> PackError:
        """A PackError saying what went wrong, with the pack's exit status and stderr tail."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=0.5)  # a crashing pack may be a moment from exiting
        status = ""
        if self.process is not None and self.process.poll() is not None:
            status = f" The pack process exited with code {self.process.returncode}."
            for thread in self._threads:
                thread.join(timeout=PACK_STOP_GRACE_SECONDS)  # collect the last stderr lines
        tail = "\n".join(f"    {line}" for line in self._stderr_tail).rstrip()
        stderr = f" Its stderr ended with:\n{tail}" if tail else " It wrote nothing to stderr."
        return PackError(self._redact(f"The {self.label} {what}.{status}{stderr}"))

    def call(self, method: str, request, *, tolerate_unimplemented: bool = False):
        try:
            return getattr(self.stub, method)(request, timeout=PACK_CALL_TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            if tolerate_unimplemented and error.code() == grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise self.pack_error(f"failed in {method}: {error.code().name}: {error.details()}") from None

    # -- introduction and configuration ---------------------------------------------------------------

    def introduce(self, stack_request: analyzer_pb2.AnalyzerStackConfigureRequest) -> None:
        """Handshake, ConfigureStack, GetPluginInfo, GetAnalyzerInfo."""
        directory = str(self.directory)
        handshake = analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address=_UNUSED_ENGINE_ADDRESS, root_directory=directory, program_directory=directory
        )
        self.call("Handshake", handshake, tolerate_unimplemented=True)
        self.call("ConfigureStack", stack_request, tolerate_unimplemented=True)
        self.plugin_version = self.call("GetPluginInfo", empty_pb2.Empty()).version
        info = self.call("GetAnalyzerInfo", empty_pb2.Empty())
        self.name = info.name or self.name
        self.label = f"policy pack {self.name!r} ({self.directory})"
        self.version = self.project.version or info.version
        self.supports_config = info.supportsConfig
        self.policies = sorted((self._policy_info(policy) for policy in info.policies), key=lambda p: p.name)
        self._severity_by_policy = {policy.name: policy.severity for policy in self.policies}
        self.initial_config = {
            name: PolicyConfig(
                self._level_name(entry.enforcementLevel), json_format.MessageToDict(entry.properties) or None
            )
            for name, entry in info.initialConfig.items()
        }

    def _policy_info(self, policy: analyzer_pb2.PolicyInfo) -> PolicyInfo:
        schema = None
        if self.supports_config:
            properties = json_format.MessageToDict(policy.configSchema.properties)
            schema = {
                "properties": {**properties, "enforcementLevel": ENFORCEMENT_LEVEL_SCHEMA},
                "required": list(policy.configSchema.required),
            }
        return PolicyInfo(
            name=policy.name,
            description=policy.description,
            enforcement_level=self._level_name(policy.enforcementLevel),
            severity=SEVERITY_NAMES.get(policy.severity, ""),
            config_schema=schema,
            remediation_steps=policy.remediation_steps,
            url=policy.url,
            policy_type=POLICY_TYPE_NAMES.get(policy.policy_type, ""),
        )

    def _level_name(self, value: int) -> str:
        if value not in LEVEL_NAMES:
            raise self.pack_error(f"sent the invalid enforcement level {value}")
        return LEVEL_NAMES[value]

    @property
    def remediates(self) -> bool:
        """Whether any policy is configured at "remediate" (only those run in the SDK's Remediate)."""
        return any(entry.enforcement_level == "remediate" for entry in self.effective_config.values())

    def severity_of(self, policy: str) -> str:
        return self._severity_by_policy.get(policy, "")

    def policy_names(self) -> set[str]:
        return {policy.name for policy in self.policies}

    def reconcile(self, file_config: dict[str, PolicyConfig] | None) -> tuple[dict[str, PolicyConfig], list[str]]:
        """The configuration to send (levels and schema defaults, the pack's initial config, then the
        file) and its validation errors, "<policy>: <message>" (update.go, installAndLoadPolicyPlugins)."""
        if not self.supports_config:
            if file_config:
                raise PackError(f"The {self.label} does not support configuration, but a config file was given.")
            return {p.name: PolicyConfig(p.enforcement_level) for p in self.policies}, []
        own_levels = {policy.name: policy.enforcement_level for policy in self.policies}
        for name, entry in self.initial_config.items():
            downgraded = entry.enforcement_level == "advisory" and own_levels.get(name, "advisory") != "advisory"
            if entry.properties and downgraded:
                # GetAnalyzerInfo cannot say "no level": an entry with only properties reads as advisory.
                print(
                    f"preflight: note: the initial config of {self.label} makes {name!r} advisory (its own level "
                    f"is {own_levels[name]}); an entry without enforcementLevel reads as advisory, as in the CLI",
                    file=sys.stderr,
                )
        config = reconcile_policy_pack_config(self.policies, self.initial_config, file_config)
        return config, validate_policy_pack_config(self.policies, config)

    def configure(self, config: dict[str, PolicyConfig]) -> None:
        """Send a reconciled, valid configuration, with an explicit level for every policy."""
        if not self.supports_config:
            self.effective_config = config
            return
        for name, entry in config.items():
            if entry.enforcement_level not in ENFORCEMENT_LEVELS:
                raise PackError(
                    f"The policy pack config sets properties for {name!r}, which is not a policy of {self.label}, "
                    "and no enforcement level; the Pulumi CLI fails on this with 'invalid enforcement level'."
                )
        request = analyzer_pb2.ConfigureAnalyzerRequest()
        for name, entry in config.items():
            policy_config = request.policyConfig[name]
            policy_config.enforcementLevel = LEVEL_VALUES[entry.enforcement_level]
            policy_config.properties.update(entry.properties or {})
        self.call("Configure", request)
        self.effective_config = config

    def summary(self) -> dict:
        return {
            "name": self.name,
            "version": self.version,
            "path": str(self.directory),
            "sdkVersion": self.plugin_version,  # the pulumi-policy SDK the pack runs with (GetPluginInfo)
            "policies": [
                {
                    "name": policy.name,
                    "description": policy.description,
                    "enforcementLevel": self.effective_config.get(
                        policy.name, PolicyConfig(policy.enforcement_level)
                    ).enforcement_level,
                    "severity": policy.severity,
                    "remediationSteps": policy.remediation_steps,
                    "url": policy.url,
                    "type": policy.policy_type,
                }
                for policy in self.policies
            ],
        }

    # -- analysis -------------------------------------------------------------------------------------

    def violation(self, diagnostic: analyzer_pb2.AnalyzeDiagnostic, urn: str) -> Violation | None:
        level = self._level_name(diagnostic.enforcementLevel)
        if level == "disabled":
            return None
        if level == "remediate":  # a remediated resource still failing validation counts as mandatory
            level = "mandatory"
        severity = SEVERITY_NAMES.get(diagnostic.severity, "") or self.severity_of(diagnostic.policyName)
        return Violation(
            policy_pack=diagnostic.policyPackName or self.name,
            policy_pack_version=self.version or diagnostic.policyPackVersion,
            policy=diagnostic.policyName,
            description=self._redact(diagnostic.description),
            enforcement_level=level,
            severity=severity,
            urn=urn,
            message=self._redact(diagnostic.message),
        )

