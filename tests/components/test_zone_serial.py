"""Zone serials set at delivery, run for real: the install script (sh = dash, and bash as over SSH) on a
throwaway root with a state dir of its own, named-checkzone on the staged copies, BIND's own parser reading
the serial that ends up installed. The host's date comes from a `date` shim first on PATH (the day moved,
the time of day real): the machine's clock is never touched and the script honours no test switch.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from components.delivery import WRITE_STAGED, ManagedFile, install_script, staging_path, staging_script
from components.render.bind import ZoneRecord, render_zone_file
from tests.conftest import require_tool

ZONE = "example.net"


def zone_text(address: str = "192.0.2.1", zone: str = ZONE) -> str:
    return render_zone_file(origin=zone, primary_ns="ns1.example.org", hostmaster="hostmaster@example.net",
                            nameservers=["ns1.example.org"], records=[ZoneRecord("www", "A", address)])


A, B = zone_text("192.0.2.1"), zone_text("192.0.2.2")

# Written by hand, as an operator keeps a zone: another layout (multi-line SOA, comments, relative names).
HAND_WRITTEN = """\
; example.net, kept by hand
$TTL 1h
@   IN  SOA ns1.example.org. hostmaster.example.net. (
        {serial} ; serial
        3h 15m 2w 1h )
    IN  NS  ns1.example.org.
www IN  A   192.0.2.1
"""


class NameServer:
    """One primary's zone files under `root` (so /etc/bind/zones is <root>/etc/bind/zones)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.zones = root / "etc" / "bind" / "zones"
        self.zones.mkdir(parents=True)
        self.state = root / "state"
        self.shims = root / "shims"
        self.shims.mkdir()
        self.real_date = require_tool("date")
        require_tool("named-checkzone")

    def path(self, zone: str = ZONE) -> Path:
        return self.zones / f"db.{zone}"

    def files(self, texts: dict[str, str]) -> list[ManagedFile]:
        return [ManagedFile(str(self.path(zone)), text, zone=zone) for zone, text in texts.items()]

    def stage(self, files: list[ManagedFile]) -> None:
        """As the delivery's staging command and local copies do."""
        dirs = sorted({os.path.dirname(staging_path(f.path)) for f in files})
        subprocess.run(["sh", "-c", staging_script(dirs)], check=True, timeout=30)
        for managed in files:
            subprocess.run(["sh", "-c", WRITE_STAGED], input=managed.content, text=True, check=True, timeout=30,
                           env={**os.environ, "ISP_STAGED_PATH": staging_path(managed.path)})

    def on_day(self, day: str, time: str = "") -> dict[str, str]:
        """The environment whose `date` says it is `day` (YYYY-MM-DD, UTC) at `time` (default: the real time
        of day)."""
        shim = self.shims / "date"
        time = time or f"$({self.real_date} -u +%H:%M:%S)"
        shim.write_text(f'#!/bin/sh\nexec {self.real_date} -d "{day} {time} UTC" "$@"\n')
        shim.chmod(0o755)
        return {"PATH": f"{self.shims}:{os.environ['PATH']}"}

    def script(self, files: list[ManagedFile], reload: list[list[str]] | None = None,
               checks: list[list[str]] | None = None) -> str:
        checks = [["named-checkzone", "-q", f.zone, staging_path(f.path)] for f in files] if checks is None else checks
        return install_script(files, checks, reload or [], state_dir=str(self.state), lock_wait=5)

    def run(self, script: str, day: str, shell: str = "sh", **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([shell, "-c", script], capture_output=True, text=True, timeout=60, cwd=self.root,
                              env={**os.environ, **env, **self.on_day(day)})

    def deliver(self, text: str, day: str, *, shell: str = "sh", zone: str = ZONE,
                reload: list[list[str]] | None = None) -> subprocess.CompletedProcess:
        files = self.files({zone: text})
        self.stage(files)
        return self.run(self.script(files, reload), day, shell)

    def serial(self, zone: str = ZONE) -> int:
        """The serial BIND loads from the installed file."""
        result = subprocess.run(["named-checkzone", zone, str(self.path(zone))], capture_output=True, text=True,
                                timeout=60)
        assert result.returncode == 0, result.stdout
        return int(result.stdout.split("loaded serial ")[1].split()[0])


@pytest.fixture
def ns(tmp_path) -> NameServer:
    return NameServer(tmp_path)


def delivered(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stderr


# -- the serial grows exactly when the content changes ---------------------------------------------------


def test_no_live_file_starts_at_the_day(ns):
    delivered(ns.deliver(A, "2026-11-24"))
    assert ns.serial() == 2026112400
    assert ns.path().read_text() == A.replace("( 0000000000 ", "( 2026112400 ")  # only the ten digits differ


def test_the_day_is_the_hosts_utc_date(ns):
    files = ns.files({ZONE: A})
    ns.stage(files)
    ns.on_day("2026-11-24", "23:30:00")
    result = subprocess.run(["sh", "-c", ns.script(files)], capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PATH": f"{ns.shims}:{os.environ['PATH']}", "TZ": "Pacific/Kiritimati"})
    delivered(result)
    assert ns.serial() == 2026112400  # 2026-11-25 09:30 in Kiritimati (UTC+14)


def test_the_same_content_keeps_the_serial_and_changes_nothing(ns):
    delivered(ns.deliver(A, "2026-11-24"))
    before = ns.path().read_bytes()
    for day in ("2026-11-24", "2026-12-31", "2027-06-01"):  # a later day changes nothing either
        result = ns.deliver(A, day)
        delivered(result)
        assert "unchanged, SOA serial 2026112400 kept" in result.stdout
        assert ns.path().read_bytes() == before


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_changes_on_one_day_grow_strictly_also_back_to_an_earlier_content(ns, shell):
    serials = []
    for text in (A, B, A, B):
        delivered(ns.deliver(text, "2026-11-24", shell=shell))
        serials.append(ns.serial())
    assert serials == [2026112400, 2026112401, 2026112402, 2026112403]


def test_a_later_day_starts_at_that_day_when_it_is_higher(ns):
    for text in (A, B):
        delivered(ns.deliver(text, "2026-11-24"))
    delivered(ns.deliver(A, "2026-11-25"))
    assert ns.serial() == 2026112500


def test_a_live_serial_above_the_day_grows_by_one(ns):
    ns.path().write_text(A.replace("( 0000000000 ", "( 2031010107 "))  # set ahead, by hand or another clock
    delivered(ns.deliver(B, "2026-11-24"))
    assert ns.serial() == 2031010108
    delivered(ns.deliver(B, "2026-11-24"))
    assert ns.serial() == 2031010108


def test_a_change_right_beside_the_serial_is_a_change(ns):
    """Only the ten digits are ignored: an SOA refresh of the same width right after them is new content."""
    delivered(ns.deliver(A, "2026-11-24"))
    delivered(ns.deliver(A.replace(" 3600 900 ", " 7200 900 "), "2026-11-24"))
    assert ns.serial() == 2026112401


def test_a_file_the_old_program_rendered_keeps_its_serial_when_only_the_serial_differs(ns):
    """The program before this change rendered YYYYMMDDnn itself: the same records keep that serial."""
    ns.path().write_text(A.replace("( 0000000000 ", "( 2026010347 "))
    delivered(ns.deliver(A, "2026-11-24"))
    assert ns.serial() == 2026010347


# -- a live file in another layout -----------------------------------------------------------------------


@pytest.mark.parametrize(("live", "expected"), [(2025010203, 2026112400), (2030123199, 2030123200), (7, 2026112400)])
def test_a_hand_written_live_zone_is_read_by_bind(ns, live, expected):
    ns.path().write_text(HAND_WRITTEN.format(serial=live))
    result = ns.deliver(A, "2026-11-24")
    delivered(result)
    assert ns.serial() == expected
    assert f"(live: {live})" in result.stdout


def test_a_live_zone_bind_cannot_read_is_refused_and_nothing_changes(ns):
    broken = HAND_WRITTEN.format(serial="2025010203").replace("3h 15m 2w 1h )", "3h 15m 2w 1h")  # unclosed (
    ns.path().write_text(broken)
    result = ns.deliver(A, "2026-11-24")
    assert result.returncode != 0
    assert f"cannot read the SOA serial of the live zone file {ns.path()} (zone {ZONE})" in result.stderr
    assert "no file of this delivery was changed" in result.stderr
    assert ns.path().read_text() == broken


def test_a_staged_file_not_in_the_rendered_layout_is_refused(ns):
    result = ns.deliver(HAND_WRITTEN.format(serial=1), "2026-11-24")
    assert result.returncode != 0 and "has no SOA line as the program renders it" in result.stderr
    assert not ns.path().exists()


# -- the ends of serial arithmetic (RFC 1982) ------------------------------------------------------------


def test_the_last_serial_before_2_32_is_delivered_and_the_next_refused(ns):
    ns.path().write_text(A.replace("( 0000000000 ", "( 4294967294 "))
    delivered(ns.deliver(B, "2026-11-24"))
    assert ns.serial() == 2**32 - 1
    delivered(ns.deliver(B, "2026-11-24"))  # unchanged: kept, nothing to refuse
    result = ns.deliver(A, "2026-11-24")
    assert result.returncode != 0
    assert "the next serial would be 4294967296, past 2^32-1: serials wrap (RFC 1982)" in result.stderr
    assert ns.serial() == 2**32 - 1 and "192.0.2.2" in ns.path().read_text()


def test_a_jump_of_2_31_or_more_is_refused(ns):
    ns.path().write_text(HAND_WRITTEN.format(serial=5))
    result = ns.deliver(A, "2150-01-01")  # 2150010100 - 5 >= 2^31: secondaries would read it as lower
    assert result.returncode != 0 and "a jump of 2^31 or more reads as a decrease" in result.stderr, result.stderr
    assert ns.serial() == 5


def test_a_live_serial_that_is_no_serial_is_refused(ns):
    ns.path().write_text(A.replace("( 0000000000 ", "( 9999999999 "))  # ten digits, past 2^32-1: edited by hand
    result = ns.deliver(B, "2026-11-24")
    assert result.returncode != 0
    assert "the live serial is 9999999999, not 0 to 4294967295" in result.stderr, result.stderr


def test_a_date_that_is_no_date_is_refused(ns):
    shim = ns.shims / "date"
    delivered(ns.deliver(A, "2026-11-24"))
    ns.stage(ns.files({ZONE: B}))
    script = ns.script(ns.files({ZONE: B}))
    env = ns.on_day("2026-11-24")
    shim.write_text('#!/bin/sh\necho "Tue Nov 24"\n')
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    assert result.returncode != 0 and "is Tue Nov 24, not YYYYMMDD" in result.stderr
    assert ns.serial() == 2026112400


# -- failed and rolled-back deliveries -------------------------------------------------------------------


def test_a_delivery_rolled_back_after_named_loaded_it_never_lets_the_serial_go_back(ns):
    """The reload loaded (and NOTIFYed) B at 2026112401, then failed: A is back at 2026112400. Secondaries may
    hold B at 2026112401, so delivering A again must go above it."""
    delivered(ns.deliver(A, "2026-11-24"))
    loaded = ns.root / "loaded"
    reload = [["sh", "-c", 'named-checkzone "$1" "$2" >> "$3"', "reload", ZONE, str(ns.path()), str(loaded)],
              ["false"]]
    result = ns.deliver(B, "2026-11-24", reload=reload)
    assert result.returncode != 0 and "previous configuration restored" in result.stderr
    assert "loaded serial 2026112401" in loaded.read_text()
    assert ns.serial() == 2026112400 and ns.path().read_text().endswith("192.0.2.1\n")
    delivered(ns.deliver(A, "2026-11-24"))
    assert ns.serial() == 2026112402
    delivered(ns.deliver(A, "2026-11-24"))
    assert ns.serial() == 2026112402  # and from there on, the same content keeps it


def test_a_retry_after_a_failed_check_stamps_the_staged_copy_again(ns):
    delivered(ns.deliver(A, "2026-11-24"))
    files = ns.files({ZONE: B})
    ns.stage(files)
    flag = ns.root / "check-passes"
    script = ns.script(files, checks=[["named-checkzone", "-q", ZONE, staging_path(files[0].path)],
                                      ["test", "-e", str(flag)]])
    assert ns.run(script, "2026-11-24").returncode != 0
    assert "( 2026112401 " in Path(staging_path(files[0].path)).read_text()  # stamped, kept for a retry
    flag.touch()
    delivered(ns.run(script, "2026-11-24"))  # the same install again, the staged copy not copied again
    assert ns.serial() == 2026112401


def test_each_zone_of_a_delivery_gets_its_own_serial(ns):
    other = "pool.example.net"
    delivered(ns.deliver(A, "2026-11-24"))
    files = ns.files({ZONE: B, other: zone_text("192.0.2.9", other)})
    ns.stage(files)
    delivered(ns.run(ns.script(files), "2026-11-25"))
    assert (ns.serial(), ns.serial(other)) == (2026112500, 2026112500)
    files = ns.files({ZONE: B, other: zone_text("192.0.2.10", other)})
    ns.stage(files)
    delivered(ns.run(ns.script(files), "2026-11-25"))
    assert (ns.serial(), ns.serial(other)) == (2026112500, 2026112501)


# -- values stay words; what the policy pack reads ---------------------------------------------------------


def test_hostile_paths_stay_single_words(tmp_path):
    ns = NameServer(tmp_path)
    ns.zones = tmp_path / "it's a $(touch pwned) `touch pwned2` dir"
    ns.zones.mkdir()
    delivered(ns.deliver(A, "2026-11-24"))
    delivered(ns.deliver(B, "2026-11-24"))
    assert ns.serial() == 2026112401
    assert not list(tmp_path.rglob("pwned*"))


@pytest.mark.parametrize("zone", ["-x", "example.net;id", "a b", "$(id)", " ", "a..b", "-example.net", "x/y", "a\nb"])
def test_zone_names_that_are_not_names_are_refused(zone):
    with pytest.raises(ValueError, match="zone must be a domain name"):
        install_script([ManagedFile("/etc/bind/zones/db.x", A, zone=zone)], [], [])


def test_the_policy_pack_still_reads_each_zone_as_its_staged_copy():
    """The serial is written in place (dd): the pack reads the zone's text as rendered, swapped in from its
    staged copy, with no note; the serial records are under the delivery's state dir."""
    pack = str(Path(__file__).resolve().parents[2] / "policies")
    if pack not in sys.path:
        sys.path.insert(0, pack)
    from readers import shellscript

    files = [ManagedFile("/etc/bind/named.conf", "options { };\n"),
             ManagedFile("/etc/bind/zones/db.isp.test", A, zone="isp.test")]
    script = install_script(files, [["named-checkzone", "-q", "isp.test", staging_path(files[1].path)]],
                            [["rndc", "reload"]])
    for shell in ("sh", "bash"):
        read = shellscript.read_script(script, shell=shell, environment={"ISP_HOST": "ns1"})
        assert read.notes == ()
        writes = [(w.path, w.copied_from) for w in read.writes
                  if not w.path.startswith("/var/lib/isp-delivery/") and "/isp-staging/" not in w.path]
        assert writes == [(f.path, staging_path(f.path)) for f in files]


def test_the_tools_the_script_needs_are_there():
    for tool in ("awk", "cmp", "dd", "named-checkzone"):
        assert shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin"), tool
