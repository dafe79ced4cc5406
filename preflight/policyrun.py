"""Drive CrossGuard policy packs over a preview's registrations, as `pulumi preview --policy-pack` does.

pkg/resource/deploy/step_generator.go: for every registration, Remediate through every pack (its
rewritten inputs feed what follows), then Analyze through every pack; the violation is shown on the
analysed resource whatever URN the pack gave. At the end AnalyzeStack with the outputs of every
resource; a violation URN that names no registered resource falls back to the root stack.

Secret values (see preflight.redact) are replaced by "[secret]" in everything this module reports.
"""

from __future__ import annotations

import collections
import contextlib
import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from pulumi.runtime.proto import analyzer_pb2

from .marshal import analyze_request, outputs_after_remediation, root_stack_urn, stack_resource
from .model import Registration
from .packconfig import PolicyConfig, read_config_file
from .packsession import STDERR_TAIL_LINES, PackSession
from .redact import Redactor, registration_secrets, secret_values
from .stacktags import stack_tags
from .verdicts import NotApplicable, PolicyConfigError, PolicyReport, Remediation, Violation


class _ReportBuilder:
    def __init__(self) -> None:
        self.report = PolicyReport(violations=[], not_applicable=[], packs=[])
        self._seen_not_applicable: set[tuple[str, str, str]] = set()

    def add_violation(self, violation: Violation | None) -> None:
        if violation is not None:
            self.report.violations.append(violation)

    def add_not_applicable(self, pack: str, entries, urn: str, redact: Redactor) -> None:
        for entry in entries:
            key = (pack, entry.policy_name, urn)
            if key not in self._seen_not_applicable:  # Remediate and Analyze may both say so
                self._seen_not_applicable.add(key)
                self.report.not_applicable.append(NotApplicable(pack, entry.policy_name, urn, redact(entry.reason)))


def run_policy_packs(
    registrations: list[Registration],
    *,
    project: str,
    stack: str,
    organization: str,
    config: dict[str, str],
    secret_keys: list[str],
    pack_dirs: list[Path],
    pack_config_file: Path | None = None,
    dry_run: bool = True,
    project_dir: Path | None = None,
) -> PolicyReport:
    """Run every policy pack over the registrations as `pulumi preview --policy-pack` would.

    `pack_config_file` (JSON, as `--policy-pack-config`) applies, whole, to every pack, as in the CLI.
    `project_dir` holds the program's Pulumi.yaml, the source of the stack's tags (see stacktags).
    Raises PackError (PolicyConfigError for config failing the packs' schemas) when a pack cannot start,
    fails a call or rejects its configuration; every pack started is stopped in all cases.
    """
    with PolicyRun(project=project, stack=stack, organization=organization, config=config,
                   secret_keys=secret_keys, pack_dirs=pack_dirs, pack_config_file=pack_config_file,
                   dry_run=dry_run, project_dir=project_dir) as policy_run:
        for registration in registrations:
            policy_run.submit(registration)
        return policy_run.finish(registrations)


@dataclass
class _Outcome:
    """What the packs answered for one registration, kept until the report is built in engine order."""

    registration: Registration
    remediated_inputs: dict[str, Any] | None
    # ("remediate" | "analyze", session, response), in the order the calls were made
    answers: list[tuple[str, Any, Any]]


_END = object()


class _AnalyzeRelay:
    """One pack's Analyze calls, made in order by a relay process (see preflight.relay)."""

    def __init__(self, session: PackSession) -> None:
        from preflight import relay

        self._relay = relay
        self.session = session
        self.sent = 0
        self.answers: list[tuple[int, bytes]] = []
        self._buffer = bytearray()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_CONFIG")}
        preflight_root = str(Path(__file__).resolve().parent.parent)
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [preflight_root, environment.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "preflight.relay", f"127.0.0.1:{session.port}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=environment,
        )
        self._threads = [threading.Thread(target=self._read_answers, daemon=True),
                         threading.Thread(target=self._read_stderr, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _read_answers(self) -> None:
        # Large reads: one wake-up of this thread takes every answer that arrived meanwhile.
        while chunk := self.process.stdout.read1(1 << 20):
            self._buffer += chunk
            self.answers.extend(self._relay.split_answers(self._buffer))

    def _read_stderr(self) -> None:
        for raw in iter(self.process.stderr.readline, b""):
            self._stderr_tail.append(raw.decode("utf-8", "replace").rstrip())

    def send(self, requests: list[bytes]) -> None:
        """Queue requests with the relay, one pipe write for the batch."""
        try:
            self.process.stdin.write(b"".join(self._relay.request_frame(r) for r in requests))
            self.process.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass  # the relay stopped: collect() says why
        self.sent += len(requests)

    def collect(self) -> list[Any]:
        """Every answer, in order, once the relay has made all its calls; PackError if one failed."""
        with contextlib.suppress(BrokenPipeError, ValueError, OSError):
            self.process.stdin.write(self._relay.request_frame(b""))
            self.process.stdin.close()
        self.process.wait()
        for thread in self._threads:
            thread.join()
        responses = []
        for status, payload in self.answers:
            if status != self._relay.OK:
                code, _, details = payload.decode("utf-8", "replace").partition("\t")
                raise self.session.pack_error(f"failed in Analyze: {code}: {details}")
            responses.append(analyzer_pb2.AnalyzeResponse.FromString(payload))
        if len(responses) != self.sent:
            tail = " | ".join(self._stderr_tail) or "no stderr"
            raise self.session.pack_error(f"answered {len(responses)} of {self.sent} Analyze calls through preflight's "
                                      f"relay, which exited with code {self.process.returncode} ({tail})")
        return responses

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.close()


class PolicyRun:
    """Policy packs analysing a preview while its program still runs, as the engine does.

    The engine loads the packs before the program starts and sends Remediate and Analyze for each
    resource as it registers; only AnalyzeStack waits for the end. Here, too: `submit` queues each
    registration (the runner calls it as it records them) and a worker thread starts the packs and
    drives them, so the packs work on the other core while the program registers. `finish` builds
    the report in the final registration order, exactly as analysing them one after the other
    would, then sends AnalyzeStack. Errors of the worker surface in `finish`; `close` stops every
    pack started, in all cases.
    """

    def __init__(
        self,
        *,
        project: str,
        stack: str,
        organization: str,
        config: dict[str, str],
        secret_keys: list[str],
        pack_dirs: list[Path],
        pack_config_file: Path | None = None,
        dry_run: bool = True,
        project_dir: Path | None = None,
    ) -> None:
        self._project = project
        self._project_dir = project_dir
        self._stack = stack
        self._config = dict(config)
        self._secret_keys = list(secret_keys)
        self._pack_dirs = [Path(d) for d in pack_dirs]
        self._pack_config_file = pack_config_file
        # Config secrets are known now; a registration's secrets are added before it is sent.
        self._redact = Redactor(secret_values(config, secret_keys, []))
        self._env_settings = {
            "project": project,
            "stack": stack,
            "organization": organization,
            "config": dict(config),
            "secret_keys": list(secret_keys),
            "dry_run": dry_run,
        }
        self._stack_configuration = analyzer_pb2.AnalyzerStackConfigureRequest(
            stack=stack,
            project=project,
            organization=organization,
            dry_run=dry_run,
            config=dict(config),
            config_secret_keys=list(secret_keys),
        )
        self._running = contextlib.ExitStack()
        self._sessions: list[PackSession] = []
        self._packs: list[dict] = []
        self._by_urn: dict[str, Registration] = {}
        self._outcomes: dict[int, _Outcome] = {}
        self._relays: list[_AnalyzeRelay] = []
        self._providers: dict[str, Any] = {}  # provider URN -> AnalyzerProviderResource, built once
        self._relayed: list[_Outcome] = []  # in the order their requests went to the relays
        self._error: BaseException | None = None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="preflight-policy-packs", daemon=True)
        self._worker.start()

    def __enter__(self) -> PolicyRun:
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.close()

    # -- the worker -----------------------------------------------------------------------------------

    def submit(self, registration: Registration) -> None:
        """Queue one registration for Remediate and Analyze (thread-safe, returns at once)."""
        self._queue.put(registration)

    def _work(self) -> None:
        try:
            self._open()
        except BaseException as error:  # noqa: BLE001 - reported by finish()
            self._error = error
        while True:
            batch = [self._queue.get()]
            with contextlib.suppress(queue.Empty):
                while batch[-1] is not _END:
                    batch.append(self._queue.get_nowait())
            ended = batch[-1] is _END
            registrations = batch[:-1] if ended else batch
            if self._error is None:
                try:
                    if self._relays:
                        self._relay(registrations)
                    else:
                        for registration in registrations:
                            self._analyze(registration)
                except BaseException as error:  # noqa: BLE001 - reported by finish()
                    self._error = error
            if ended:
                return

    def _open(self) -> None:
        self._stack_configuration.tags.update(stack_tags(self._project_dir, self._config))
        file_config = read_config_file(self._pack_config_file) if self._pack_config_file is not None else None
        for pack_dir in self._pack_dirs:
            session = self._running.enter_context(
                PackSession(pack_dir, env_settings=self._env_settings, redact=self._redact))
            session.introduce(self._stack_configuration)
            self._sessions.append(session)
        _warn_of_unknown_policies(file_config, self._sessions)
        # The whole file goes to every pack, and every pack's errors are listed before failing (update.go).
        configs, problems = [], []
        for session in self._sessions:
            config, errors = session.reconcile(file_config)
            configs.append(config)
            problems.extend(f"validating policy config: {session.name} {session.version}  {error}" for error in errors)
        if problems:
            raise PolicyConfigError(problems)
        for session, config in zip(self._sessions, configs, strict=True):
            session.configure(config)
            self._packs.append(session.summary())
        if self._sessions and not any(session.remediates for session in self._sessions):
            # Without remediations each resource is one Analyze per pack, which relays make in order.
            self._relays = [_AnalyzeRelay(session) for session in self._sessions]

    def _relay(self, registrations: list[Registration]) -> None:
        """Send a batch of registrations' Analyze requests through the relays (answers come at finish)."""
        requests = []
        for registration in registrations:
            self._redact.add(registration_secrets(registration))
            self._by_urn.setdefault(registration.urn, registration)
            request = analyze_request(registration, registration.inputs, self._by_urn, providers=self._providers)
            requests.append(request.SerializeToString())
            outcome = _Outcome(registration, None, [])
            self._outcomes[id(registration)] = outcome
            self._relayed.append(outcome)
        for relay in self._relays:
            relay.send(requests)

    def _analyze(self, registration: Registration) -> _Outcome:
        """Remediate through every pack (its rewritten inputs feed what follows), then Analyze."""
        self._redact.add(registration_secrets(registration))
        self._by_urn.setdefault(registration.urn, registration)
        answers: list[tuple[str, Any, Any]] = []
        inputs = registration.inputs
        for session in self._sessions:
            inputs = _remediate(session, registration, inputs, self._by_urn, answers)
        request = analyze_request(registration, inputs, self._by_urn) if self._sessions else None
        for session in self._sessions:
            answers.append(("analyze", session, session.call("Analyze", request)))
        outcome = _Outcome(registration, inputs if inputs is not registration.inputs else None, answers)
        self._outcomes[id(registration)] = outcome
        return outcome

    # -- the end --------------------------------------------------------------------------------------

    def finish(self, registrations: list[Registration]) -> PolicyReport:
        """Wait for the queued analyses, build the report in `registrations` order, run AnalyzeStack."""
        stack_request = None
        if self._relays:
            # No pack remediates, so every output is final: the AnalyzeStack request is built while
            # the packs finish the last Analyze calls.
            stack_request = self._build_stack_request(registrations, {}, {r.urn: r for r in registrations})
        self._stop_worker()
        if self._error is not None:
            raise self._error
        relays, self._relays = self._relays, []
        try:
            for relay in relays:
                for outcome, response in zip(self._relayed, relay.collect(), strict=True):
                    outcome.answers.append(("analyze", relay.session, response))
        finally:
            for relay in relays:
                relay.stop()
        self._redact.add(secret_values(self._config, self._secret_keys, registrations))
        self._by_urn = {registration.urn: registration for registration in registrations}
        builder = _ReportBuilder()
        builder.report.packs.extend(self._packs)
        remediated: dict[str, dict[str, Any]] = {}
        for registration in registrations:
            outcome = self._outcomes.get(id(registration))
            if outcome is None or outcome.registration is not registration:
                outcome = self._analyze(registration)  # never submitted: analysed now, in order
            if outcome.remediated_inputs is not None:
                remediated[registration.urn] = outcome.remediated_inputs
            for kind, session, response in outcome.answers:
                _record_answer(kind, session, response, registration, builder, self._redact)
        if self._sessions:
            if stack_request is None:
                stack_request = self._build_stack_request(registrations, remediated, self._by_urn)
            self._analyze_stack(stack_request, registrations, builder)
        return builder.report

    @staticmethod
    def _build_stack_request(registrations: list[Registration], remediated: dict[str, dict[str, Any]],
                       by_urn: dict[str, Registration]) -> analyzer_pb2.AnalyzeStackRequest:
        request = analyzer_pb2.AnalyzeStackRequest()
        providers: dict[str, Any] = {}
        for registration in registrations:
            stack_resource(registration, outputs_after_remediation(registration, remediated.get(registration.urn)),
                           by_urn, providers, into=request.resources.add())
        return request

    def _analyze_stack(self, request: analyzer_pb2.AnalyzeStackRequest, registrations: list[Registration],
                       builder: _ReportBuilder) -> None:
        fallback_urn = root_stack_urn(registrations, project=self._project, stack=self._stack)
        for session in self._sessions:
            response = session.call("AnalyzeStack", request, tolerate_unimplemented=True)
            if response is None:
                continue
            for diagnostic in response.diagnostics:
                urn = diagnostic.urn if diagnostic.urn in self._by_urn else fallback_urn
                builder.add_violation(session.violation(diagnostic, urn))
            builder.add_not_applicable(session.name, response.not_applicable, "", self._redact)

    def _stop_worker(self) -> None:
        if self._worker.is_alive():
            self._queue.put(_END)
            self._worker.join()

    def close(self) -> None:
        """Stop the worker, the relays and every pack started (cancel, then terminate)."""
        self._stop_worker()
        for relay in self._relays:
            relay.stop()
        self._running.close()


def _warn_of_unknown_policies(file_config: dict[str, PolicyConfig] | None, sessions: list[PackSession]) -> None:
    """Keys of the config file that name no policy of any pack (the CLI sends them silently)."""
    if not file_config:
        return
    known = set().union(*(session.policy_names() for session in sessions))
    unknown = sorted(set(file_config) - known - {"all"})
    if unknown:
        names = ", ".join(unknown)
        print(f"preflight: warning: the policy pack config names no policy called {names}", file=sys.stderr)


def _remediate(
    session: PackSession,
    registration: Registration,
    inputs: dict[str, Any],
    by_urn: dict[str, Registration],
    answers: list[tuple[str, Any, Any]],
) -> dict[str, Any]:
    if not session.remediates:
        # The SDK's Remediate runs only policies configured at "remediate"; with none it can only
        # answer nothing, so the round trip (two per resource with Analyze) is saved.
        return inputs
    request = analyze_request(registration, inputs, by_urn, for_remediate=True)
    response = session.call("Remediate", request, tolerate_unimplemented=True)
    if response is None:
        return inputs
    answers.append(("remediate", session, response))
    for remediation in response.remediations:
        if not remediation.diagnostic and remediation.HasField("properties"):
            inputs = json_format.MessageToDict(remediation.properties)
    return inputs


def _record_answer(kind: str, session: PackSession, response: Any, registration: Registration,
                   builder: _ReportBuilder, redact: Redactor) -> None:
    """One pack's answer to Remediate or Analyze, as violations, remediations and not-applicables."""
    if kind == "analyze":
        for diagnostic in response.diagnostics:
            # The engine shows a resource policy's violation on the analysed resource.
            builder.add_violation(session.violation(diagnostic, registration.urn))
        builder.add_not_applicable(session.name, response.not_applicable, registration.urn, redact)
        return
    for remediation in response.remediations:
        if remediation.diagnostic:  # the remediation could not run (e.g. an unknown value at preview)
            builder.add_violation(
                Violation(
                    policy_pack=remediation.policyPackName or session.name,
                    policy_pack_version=session.version or remediation.policyPackVersion,
                    policy=remediation.policyName,
                    description=redact(remediation.description),
                    enforcement_level="advisory",
                    severity=session.severity_of(remediation.policyName),
                    urn=registration.urn,
                    message=redact(remediation.diagnostic),
                )
            )
        elif remediation.HasField("properties"):
            builder.report.remediations.append(
                Remediation(session.name, remediation.policyName, registration.urn, redact(remediation.description))
            )
    builder.add_not_applicable(session.name, response.not_applicable, registration.urn, redact)
