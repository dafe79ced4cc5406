"""A real browser for the lab: Debian's Chromium, headless, driven over the DevTools protocol (CDP).

Lesson 10 is about what a user meets: a webmail whose certificate the browser accepts without a
warning. `BrowserSession` runs Chromium exactly once per session and drives it like a user would:
navigate, type into fields, click, wait for the page, take a screenshot.

- **Transport.** `--remote-debugging-pipe`: Chromium reads CDP commands on fd 3 and writes replies and
  events on fd 4, each message a JSON text ended by a NUL byte. No port is opened (nothing else in the
  namespace can drive the browser) and no websocket library is needed. One page target is attached
  with `flatten`, so its commands carry a `sessionId` on the same pipe.
- **Binary.** `/usr/lib/chromium/chromium`, the program the Debian launcher `/usr/bin/chromium` execs:
  the launcher sources `/etc/chromium.d`, which exports Google API keys, loads the system's extensions
  and runs a /dev/shm test that breaks on some mounts; our flags are the whole configuration instead.
- **Isolation.** Every session has a fresh temporary HOME, profile and NSS database, removed at the
  end; the browser runs in a process group of its own, which is killed (SIGKILL) when the session
  ends, whatever happened. Every wait has a deadline, and so has the session as a whole.
- **Trust.** Chromium on Linux trusts, besides its built-in root store, the anchors in the user's NSS
  database `$HOME/.pki/nssdb`. The session makes that database empty and adds only the given CA
  (`certutil -A -t C,,`). The built-in store cannot be emptied, so the claim a caller can test is the
  difference: without the CA the same navigation fails with `net::ERR_CERT_AUTHORITY_INVALID`, with
  it no certificate error occurs (`navigate` returns the evidence: the error text, the security state,
  and the certificate the page was served with).
- **Names.** `host_map` becomes `--host-resolver-rules`: the given names resolve to the given
  addresses and every other name (but `localhost`) to nothing, so the browser never asks a resolver
  and cannot reach anything it was not sent to. A lab namespace such as `customer` has no resolv.conf
  of its own; instead of bind-mounting one (`/etc/netns/<ns>/resolv.conf`, seen by every
  `ip netns exec` into that shared namespace and left behind if we crash), the caller asks the lab's
  name server the way a customer's resolver would and hands the answer over (lab/browser_probe.py).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/lib/chromium/chromium")
CHROMIUM_LAUNCHER = Path("/usr/bin/chromium")
CA_NICKNAME = "lab-ca"
COMMAND_TIMEOUT = 20.0  # one CDP command's reply
SESSION_TIMEOUT = 120.0  # everything a session does, launch to close
LAUNCH_TIMEOUT = 20.0
VIEWPORT = (1280, 800)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Background services a fresh profile would start (updates, safe browsing, sync, metrics, translate):
# none of them may talk to anyone, and the host rules leave them no name to resolve anyway.
QUIET_FLAGS = (
    "--no-first-run", "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-default-apps", "--disable-extensions", "--disable-client-side-phishing-detection",
    "--disable-domain-reliability", "--no-pings", "--disable-breakpad", "--metrics-recording-only",
    "--password-store=basic", "--no-proxy-server", "--disable-dev-shm-usage",
    "--disable-features=Translate,OptimizationHints,MediaRouter,PasswordLeakDetection,AutofillServerCommunication",
)


class BrowserError(RuntimeError):
    """The browser could not do what was asked (it never carries what was typed)."""


def chromium_path() -> Path | None:
    """The Chromium program, or None when Debian's `chromium` is not installed."""
    return CHROMIUM if CHROMIUM.exists() and CHROMIUM_LAUNCHER.exists() else None


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; ValueError if `data` is no PNG."""
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise ValueError("not a PNG image")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@dataclass
class Navigation:
    """What a navigation met: an error, or the document, its certificate and its security state."""

    url: str
    error: str = ""  # net::ERR_... as Chromium names it; empty when the page loaded
    status: int | None = None
    final_url: str = ""
    redirects: list[str] = field(default_factory=list)  # "302 https://... -> https://..."
    tls: dict[str, Any] = field(default_factory=dict)  # the document's securityDetails, as CDP gives them
    security_state: str = ""  # the page's visible security state: secure, neutral, insecure, ...
    certificate_error: str = ""  # the visible state's certificateNetworkError, if any
    failed_loads: list[str] = field(default_factory=list)  # "net::ERR_... url" of every request that failed

    @property
    def certificate_errors(self) -> list[str]:
        """Every certificate error seen on the way (empty: the browser accepted every certificate)."""
        seen = [self.error, self.certificate_error, *(f.split(" ", 1)[0] for f in self.failed_loads)]
        return sorted({e for e in seen if e.startswith("net::ERR_CERT_")})

    def tls_line(self) -> str:
        if not self.tls:
            return "no TLS details"
        valid_to = datetime.fromtimestamp(self.tls.get("validTo", 0), UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (f"{self.tls.get('protocol')} {self.tls.get('cipher')}; subject {self.tls.get('subjectName')}, "
                f"SAN {self.tls.get('sanList')}, issuer {self.tls.get('issuer')}, valid to {valid_to}")


class _Pipe:
    """CDP over Chromium's debugging pipe: NUL-terminated JSON, replies matched by id, events kept in order."""

    def __init__(self, to_browser: int, from_browser: int, deadline: float):
        self.to_browser, self.from_browser, self.deadline = to_browser, from_browser, deadline
        self.buffer = b""
        self.events: list[dict[str, Any]] = []
        self.replies: dict[int, dict[str, Any]] = {}
        self.next_id = 0

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = COMMAND_TIMEOUT) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        data = json.dumps(message).encode() + b"\0"
        while data:
            _, writable, _ = select.select([], [self.to_browser], [], self._left(timeout, method))
            if not writable:
                raise BrowserError(f"{method}: the browser took no input within {timeout:g} s")
            data = data[os.write(self.to_browser, data):]
        until = time.monotonic() + timeout
        while self.next_id not in self.replies:
            self.pump(until, method)
        reply = self.replies.pop(self.next_id)
        if "error" in reply:  # CDP's error names the method's problem, never echoes the parameters
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def _left(self, timeout: float, what: str) -> float:
        left = min(timeout, self.deadline - time.monotonic())
        if left <= 0:
            raise BrowserError(f"{what}: the browser session ran out of time")
        return left

    def pump(self, until: float, what: str) -> None:
        """Read what the browser has said until `until` (at least one message, or raise)."""
        wait = min(until, self.deadline) - time.monotonic()
        if wait <= 0:
            raise BrowserError(f"{what}: no answer in time")
        readable, _, _ = select.select([self.from_browser], [], [], wait)
        if not readable:
            raise BrowserError(f"{what}: no answer in time")
        chunk = os.read(self.from_browser, 1 << 20)
        if not chunk:
            raise BrowserError(f"{what}: the browser closed its pipe (it exited)")
        self.buffer += chunk
        *messages, self.buffer = self.buffer.split(b"\0")
        for raw in messages:
            message = json.loads(raw)
            if "id" in message:
                self.replies[message["id"]] = message
            else:
                self.events.append(message)


class BrowserSession:
    """One headless Chromium, trusting `ca_pem` (or, with None, nothing of ours), optionally run inside a
    network namespace (`ip netns exec`); a context manager. `host_map`: {name: address} (see the module)."""

    def __init__(self, ca_pem: Path | str | None, *, namespace: str | None = None,
                 host_map: dict[str, str] | None = None, viewport: tuple[int, int] = VIEWPORT,
                 timeout: float = SESSION_TIMEOUT):
        self.ca_pem = Path(ca_pem) if ca_pem else None
        self.namespace = namespace
        self.host_map = dict(host_map or {})
        self.viewport = viewport
        self.timeout = timeout
        self.trusted: list[str] = []  # the NSS database's certificates (nickname and trust), as certutil lists them
        self.launch_seconds = 0.0
        self.product = ""  # as the browser names itself, e.g. HeadlessChrome/156.0.8078.114
        self._scratch: Path | None = None
        self._process: subprocess.Popen | None = None
        self._pipe: _Pipe | None = None
        self._session = ""
        self._frame = ""

    # -- life cycle --------------------------------------------------------------------------------------------

    def __enter__(self) -> BrowserSession:
        started = time.monotonic()
        program = chromium_path()
        if program is None:
            raise BrowserError(f"{CHROMIUM} is missing: install Debian's chromium")
        self._scratch = Path(tempfile.mkdtemp(prefix="lab-browser-"))
        try:
            home = self._scratch / "home"
            self._make_nss_db(home / ".pki" / "nssdb")
            self._launch(program, home, deadline=started + self.timeout)
            self._attach()
        except BaseException:
            self.close()
            raise
        self.launch_seconds = time.monotonic() - started
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _make_nss_db(self, nssdb: Path) -> None:
        nssdb.mkdir(parents=True, mode=0o700)
        database = f"sql:{nssdb}"
        _certutil(["-N", "-d", database, "--empty-password"])
        if self.ca_pem:
            _certutil(["-A", "-d", database, "-t", "C,,", "-n", CA_NICKNAME, "-i", str(self.ca_pem)])
        listed = _certutil(["-L", "-d", database]).splitlines()
        self.trusted = [" ".join(line.split()) for line in listed[4:] if line.strip()]  # after certutil's header

    def _rules(self) -> str:
        maps = [f"MAP {name} {address}" for name, address in self.host_map.items()]
        return ", ".join([*maps, "MAP * ~NOTFOUND", "EXCLUDE localhost"])

    def _launch(self, program: Path, home: Path, deadline: float) -> None:
        commands_read, commands_write = os.pipe()
        replies_read, replies_write = os.pipe()
        width, height = self.viewport
        argv = [str(program), "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                f"--user-data-dir={self._scratch / 'profile'}", f"--window-size={width},{height}",
                f"--host-resolver-rules={self._rules()}", *QUIET_FLAGS, "about:blank"]
        # The browser wants the pipe on fds 3 and 4; bash between us and it puts them there (dash knows
        # only fds 0-9; a preexec_fn would do it too, but is unsafe in a process with threads, as a test's).
        high = [fcntl_dup(fd) for fd in (commands_read, replies_write)]
        shell = ["/bin/bash", "-c", f'exec 3<&{high[0]} 4>&{high[1]} {high[0]}<&- {high[1]}>&-; exec "$@"', "browser",
                 *argv]
        if self.namespace:
            shell = ["ip", "netns", "exec", self.namespace, *shell]
        environment = {"HOME": str(home), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8",
                       "XDG_CONFIG_HOME": str(home / ".config"), "XDG_CACHE_HOME": str(home / ".cache"),
                       "TMPDIR": str(self._scratch)}
        try:
            with open(self._scratch / "stderr", "wb") as errors:
                self._process = subprocess.Popen(shell, env=environment, stdin=subprocess.DEVNULL,
                                                 stdout=subprocess.DEVNULL, stderr=errors, pass_fds=high,
                                                 start_new_session=True, cwd=self._scratch)
        finally:
            for fd in (commands_read, replies_write, *high):
                os.close(fd)
        self._pipe = _Pipe(commands_write, replies_read, deadline)
        try:
            self.product = self._pipe.send("Browser.getVersion", timeout=LAUNCH_TIMEOUT).get("product", "")
        except BrowserError as error:
            raise BrowserError(f"chromium did not start: {error}; {self._stderr_tail()}") from None

    def _stderr_tail(self) -> str:
        try:
            lines = (self._scratch / "stderr").read_text(errors="replace").strip().splitlines()
        except (OSError, TypeError):
            return ""
        return " | ".join(lines[-3:])

    def _attach(self) -> None:
        pipe = self._pipe
        page = next((t for t in pipe.send("Target.getTargets")["targetInfos"] if t["type"] == "page"), None)
        target = page["targetId"] if page else pipe.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = pipe.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Network", "Security", "Runtime"):
            self._send(f"{domain}.enable")
        self._frame = self._send("Page.getFrameTree")["frameTree"]["frame"]["id"]
        width, height = self.viewport
        self._send("Emulation.setDeviceMetricsOverride",
                   {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def close(self) -> None:
        """End the browser (politely, then its whole process group) and remove its HOME and profile."""
        if self._pipe is not None:
            with contextlib.suppress(BrowserError, OSError, ValueError):
                self._pipe.deadline = time.monotonic() + 3
                self._pipe.send("Browser.close", timeout=3)
            for fd in (self._pipe.to_browser, self._pipe.from_browser):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._pipe = None
        if self._process is not None:
            group = self._process.pid  # the session leader: its pid is the group's id
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(group, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=10)
            deadline = time.monotonic() + 5
            while live_processes_in_group(group) and time.monotonic() < deadline:
                time.sleep(0.02)  # SIGKILL is delivered, but a process takes a moment to die
            self._process = None
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    # -- what a user does --------------------------------------------------------------------------------------

    def _send(self, method: str, params: dict[str, Any] | None = None, timeout: float = COMMAND_TIMEOUT) -> dict:
        if self._pipe is None:
            raise BrowserError(f"{method}: the browser session is closed")
        return self._pipe.send(method, params, self._session or None, timeout)

    def navigate(self, url: str, timeout: float = 30.0) -> Navigation:
        """Load `url` in the page and return what happened on the way (error or document, TLS, state)."""
        mark = len(self._pipe.events)
        result = self._send("Page.navigate", {"url": url}, timeout=timeout)
        navigation = Navigation(url=url, error=result.get("errorText", ""))
        if not navigation.error:
            self._wait_event("Page.loadEventFired", mark, timeout, f"loading {url}")
        return self._observed(navigation, mark)

    def submit(self, fields: dict[str, str], button: str, timeout: float = 30.0) -> Navigation:
        """Type each text into the field its CSS selector names (as keyboard input), click `button`, and
        wait for the page the form leads to. The texts go to the browser only (never argv, never errors)."""
        for selector, text in fields.items():
            self.evaluate(f"(() => {{ const f = document.querySelector({json.dumps(selector)}); "
                          "if (!f) throw new Error('no field ' + " + json.dumps(json.dumps(selector)) + "); "
                          "f.focus(); f.select && f.select(); return true; })()")
            self._send("Input.insertText", {"text": text})
        mark = len(self._pipe.events)
        self.evaluate(f"(() => {{ const b = document.querySelector({json.dumps(button)}); "
                      "if (!b) throw new Error('no button ' + " + json.dumps(json.dumps(button)) + "); "
                      "b.click(); return true; })()")
        navigated = self._wait_event("Page.frameNavigated", mark, timeout, f"submitting with {button}",
                                     lambda e: not e["params"]["frame"].get("parentId"))
        self._wait_event("Page.loadEventFired", navigated, timeout, f"loading after {button}")
        return self._observed(Navigation(url=self.evaluate("location.href")), mark)

    def evaluate(self, expression: str, timeout: float = COMMAND_TIMEOUT) -> Any:
        """The value of a JavaScript expression in the page (promises awaited); BrowserError if it throws."""
        result = self._send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                 "awaitPromise": True}, timeout=timeout)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError(f"script failed: {details.get('exception', {}).get('description') or details['text']}")
        return result.get("result", {}).get("value")

    def wait_for(self, predicate: str, timeout: float = 20.0, interval: float = 0.1) -> Any:
        """Evaluate `predicate` until it is truthy (as JavaScript judges: an element, a non-empty list, ...);
        its value (an element as true), or BrowserError after `timeout`."""
        judged = (f"(async () => {{ const v = await ({predicate}); "
                  "return {ok: !!v, value: v instanceof Node ? true : v}; })()")
        until = time.monotonic() + timeout
        while True:
            with contextlib.suppress(BrowserError):  # a page in the middle of navigating has no context yet
                seen = self.evaluate(judged)
                if seen and seen["ok"]:
                    return seen.get("value")
            if time.monotonic() >= until:
                raise BrowserError(f"waited {timeout:g} s for {predicate!r}")
            time.sleep(interval)

    def screenshot(self, path: Path | str) -> tuple[int, int]:
        """The page as the viewport shows it, written to `path` as PNG; its (width, height)."""
        data = base64.b64decode(self._send("Page.captureScreenshot", {"format": "png"})["data"])
        size = png_size(data)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
        return size

    # -- evidence ----------------------------------------------------------------------------------------------

    def _wait_event(self, method: str, mark: int, timeout: float, what: str, accept=None) -> int:
        """Index (after `mark`) just past the first event `method` of our page that `accept` takes."""
        until = time.monotonic() + timeout
        index = mark
        while True:
            events = self._pipe.events
            for position in range(index, len(events)):
                event = events[position]
                if (event.get("method") == method and event.get("sessionId") == self._session
                        and (accept is None or accept(event))):
                    return position + 1
            index = len(events)
            self._pipe.pump(until, what)

    def _observed(self, navigation: Navigation, mark: int) -> Navigation:
        """Fill `navigation` from the events since `mark`: documents, redirects, failures, security state."""
        mine = [e for e in self._pipe.events[mark:] if e.get("sessionId") == self._session]
        for event in mine:
            method, params = event["method"], event.get("params", {})
            if method == "Network.requestWillBeSent" and params.get("redirectResponse"):
                redirect = params["redirectResponse"]
                navigation.redirects.append(f"{redirect['status']} {redirect['url']} -> {params['request']['url']}")
            elif method == "Network.responseReceived" and params.get("type") == "Document" \
                    and params.get("frameId") == self._frame:
                response = params["response"]
                navigation.status, navigation.final_url = response.get("status"), response.get("url", "")
                details = response.get("securityDetails") or {}
                navigation.tls = {k: details.get(k) for k in ("protocol", "cipher", "subjectName", "sanList",
                                                              "issuer", "validFrom", "validTo") if k in details}
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                request = next((e["params"]["request"]["url"] for e in mine
                                if e["method"] == "Network.requestWillBeSent"
                                and e["params"]["requestId"] == params["requestId"]), "?")
                navigation.failed_loads.append(f"{params.get('errorText')} {request}")
            elif method == "Security.visibleSecurityStateChanged":
                state = params["visibleSecurityState"]
                navigation.security_state = state.get("securityState", "")
                navigation.certificate_error = (state.get("certificateSecurityState") or {}).get(
                    "certificateNetworkError") or ""
        return navigation


def live_processes_in_group(group: int) -> list[int]:
    """The pids of process group `group` that are not yet dead (zombies waiting for init are dead)."""
    live = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
            if int(fields[2]) == group and fields[0] != "Z":
                live.append(int(stat.parent.name))
    return live


def fcntl_dup(fd: int, lowest: int = 10) -> int:
    """A copy of `fd` numbered `lowest` or above, inheritable (so the launch shell's moves cannot collide)."""
    import fcntl

    copy = fcntl.fcntl(fd, fcntl.F_DUPFD, lowest)
    os.set_inheritable(copy, True)
    return copy


def _certutil(args: list[str]) -> str:
    done = subprocess.run(["certutil", *args], capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise BrowserError(f"certutil {args[0]} failed: {(done.stderr or done.stdout).strip()[-200:]}")
    return done.stdout
