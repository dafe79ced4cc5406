"""Test helper: run Python code in a fresh interpreter whose clock is moved, as on another day and machine.

The clock is moved before anything is imported (time.time/time_ns, localtime/gmtime/strftime/ctime
without a time, datetime.date.today, datetime.datetime.now/utcnow/today), so a module that reads the
date in any of these ways, at import or later, sees the moved one. TZ and PYTHONHASHSEED are set too:
set iteration order and the local zone differ between machines.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from tests.conftest import REPO

_MOVE = """\
import datetime as _datetime, os as _os, time as _time
_shift = float(_os.environ["ISP_TEST_CLOCK_SHIFT"])
_real_time = _time.time
_time.time = lambda: _real_time() + _shift
_time.time_ns = lambda: int(_time.time() * 1e9)
for _name in ("localtime", "gmtime", "ctime"):
    def _moved(secs=None, _f=getattr(_time, _name)):
        return _f(_time.time() if secs is None else secs)
    setattr(_time, _name, _moved)
_real_strftime = _time.strftime
_time.strftime = lambda fmt, t=None: _real_strftime(fmt, _time.localtime() if t is None else t)
class _Datetime(_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return _datetime.datetime.fromtimestamp(_time.time(), tz)
    @classmethod
    def utcnow(cls):
        return _datetime.datetime.fromtimestamp(_time.time(), _datetime.timezone.utc).replace(tzinfo=None)
    @classmethod
    def today(cls):
        return cls.now()
_Datetime.__module__ = "datetime"
_datetime.datetime = _Datetime
import sys as _sys
_sys.path.insert(0, _os.getcwd())
"""


def run_moved(code: str, *, days: float, tz: str = "UTC", hash_seed: int = 0) -> str:
    """stdout of `code` run in a fresh interpreter (cwd: the repository) with the clock moved by `days`."""
    env = {**os.environ, "ISP_TEST_CLOCK_SHIFT": str(days * 86400), "TZ": tz, "PYTHONHASHSEED": str(hash_seed)}
    result = subprocess.run([sys.executable, "-c", _MOVE + code], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def program_registrations(stack: str, secrets: dict[str, str]) -> str:
    """Code printing, as JSON, every registration __main__.py makes for `stack` under Pulumi's mocks:
    (type, name, parent, protect, inputs), sorted (the monitor records them as its threads answer)."""
    return f"""
import json, runpy
import pulumi, yaml
from tests.components.conftest import RecordingMocks, RecordingMonitor
secrets = {secrets!r}
config = yaml.safe_load(open("Pulumi.{stack}.yaml"))["config"]
values = {{k: v for k, v in config.items() if k.startswith("isp:") and not (isinstance(v, dict) and "secure" in v)}}
values.update({{f"isp:{{k}}": v for k, v in secrets.items()}})
recording = RecordingMocks()
pulumi.runtime.set_mocks(recording, project="isp", stack="{stack}", preview=False, monitor=RecordingMonitor(recording))
pulumi.runtime.set_all_config({{k: v if isinstance(v, str) else json.dumps(v) for k, v in values.items()}},
                              [f"isp:{{k}}" for k in secrets])
pulumi.run = lambda entrypoint: None

@pulumi.runtime.test
def run():
    runpy.run_path("__main__.py", run_name="__main__")
    return pulumi.Output.from_input(1)

run()
def plain(value):  # an asset by its text, anything else not JSON by its repr
    return {{"asset": value.text}} if isinstance(value, pulumi.asset.StringAsset) else repr(value)

rows = sorted(json.dumps([r.type, r.name, r.parent, r.protect, r.inputs], sort_keys=True, default=plain)
              for r in recording.resources)
print("\\n".join(rows))
"""


def parse_rows(out: str) -> list[Any]:
    return [json.loads(line) for line in out.splitlines()]
