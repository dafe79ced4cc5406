"""Zone serials, set on the name server at delivery: they grow exactly when a zone's content changes.

Why on the host: the program renders no date, so the same config gives byte-identical zone files on
any day and machine (a daily `pulumi preview` shows no change). A rendered zone carries the placeholder
serial ZONE_SERIAL_PLACEHOLDER (components/render/bind.py). The install script (components/delivery.py),
under the delivery lock and before the checks run on the staged copies, gives each staged zone file its
serial, from the live file it will replace:

- no live file: YYYYMMDD00 of the host's UTC date;
- the same content as the live file apart from the serial: the live serial (the file named loads is
  byte for byte the one it has, and nothing changes for the secondaries);
- else max(live + 1, YYYYMMDD00): a change grows the serial, also several on one day and content that
  returns to an earlier state;
- never below the highest serial an earlier delivery to the host swapped in (kept under the delivery
  state dir, SERIAL_DIR): a delivery rolled back after named had loaded and NOTIFYed its zone may have
  left a higher serial on the secondaries than the live file holds again.

named-checkzone then checks the stamped copy (the same check as before), and the swap installs exactly
the bytes checked.

Why secondaries need it: on a reload the primary sends NOTIFY (`notify yes`, RFC 1996); a secondary
then asks for the SOA and transfers the zone (IXFR, RFC 1995, or AXFR, RFC 5936) only if the primary's
serial is greater than its own in serial arithmetic (RFC 1982); otherwise it keeps what it has, also at
each refresh, until the zone expires. A change under an unchanged serial never reaches them, and a
serial that went down stops every transfer; a serial that grows when nothing changed only costs a
transfer. Serial arithmetic wraps at 2^32: a serial past 2^32-1, or a jump of 2^31 or more, reads as a
decrease, so the script refuses both, saying so, rather than wrap silently.

The serial is written in place: `dd conv=notrunc` overwrites exactly the placeholder's ten digits, so
the staged file keeps its size, its owner-only mode and every other byte. (The policy pack reads the
staged text as the program rendered it; only these digits differ on the host, and it judges no serial.)
The script reads the rendered layout only (the one line `@<TAB>IN<TAB>SOA<TAB>... ( <ten digits> `); a
live file in any other layout (hand-written, another tool's) is read by BIND's own parser, see
`_LIVE_SERIAL`.

Every value reaches the script through `shlex.quote`; the arithmetic is done in awk (a shell reads
`0000000042` as octal, and some shells' arithmetic is 32-bit).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

SERIAL_MAX = 2**32 - 1
SERIAL_DIR = "serial"  # under the delivery state dir: <state>/serial/<zone>, the highest serial swapped in
# A zone's name as named-checkzone takes it: labels of letters, digits, _ and -, never an option (-x).
_ZONE_RE = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?\.)*[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}"
                      r"[A-Za-z0-9_])?\.?$")

# awk, one file: "<byte offset of the serial's ten digits> <the ten digits>" of the rendered layout's SOA
# line, exit 1 if the file has no such line or more than one. Byte offsets: the script runs with LC_ALL=C.
_SOA_AWK = r"""
/^@\tIN\tSOA\t/ {
  found++
  i = index($0, " ( ")
  digits = substr($0, i + 3, 10)
  if (i > 0 && length(digits) == 10 && digits !~ /[^0-9]/ && substr($0, i + 13, 1) == " ") at = offset + i + 2
}
{ offset += length($0) + 1 }
END { if (found != 1 || at == "") exit 1; print at, digits }
"""

# awk, no input: the serial for the staged copy from live (empty: no live file), same (1: the content equals
# the live file's apart from the serial), last (empty: no record) and today (the host's YYYYMMDD). Prints it
# as ten digits, or the reason it refuses one, exit 1.
_NEXT_AWK = r"""
function fail(why) { print why; exit 1 }
function n(value) { return sprintf("%.0f", value) }
function serial(value, what) {
  if (value !~ /^[0-9]+$/ || length(value) > 10 || value + 0 > MAX) fail(what " is " value ", not 0 to " n(MAX))
  return value + 0
}
BEGIN {
  MAX = 4294967295
  if (today !~ /^[0-9]+$/ || length(today) != 8) fail("the host's date (date -u +%Y%m%d) is " today ", not YYYYMMDD")
  if (live != "") live = serial(live, "the live serial")
  if (last != "") last = serial(last, "the highest serial delivered before (" record ")")
  if (live != "" && same && (last == "" || last <= live)) { printf "%010.0f\n", live; exit 0 }
  new = today * 100
  if (live != "" && live + 1 > new) new = live + 1
  if (last != "" && last + 1 > new) new = last + 1
  if (new > MAX) fail("the next serial would be " n(new) ", past 2^32-1: serials wrap (RFC 1982) and the " \
    "secondaries would see it go down; step it down by hand (at most 2147483647 at a time, mod 2^32, waiting " \
    "for every secondary in between), then deliver again")
  top = live
  if (last != "" && (top == "" || last > top)) top = last
  if (top != "" && new - top >= 2147483648) fail("the serial would jump from " n(top) " to " n(new) ": a jump " \
    "of 2^31 or more reads as a decrease to the secondaries (RFC 1982); step it up by hand first")
  printf "%010.0f\n", new
}
"""

# A live file not in the rendered layout: its serial as BIND's own parser reads it (a dump of what it
# loads), never a guess at the text (multi-line parentheses, comments, $INCLUDE, other spellings).
# Without it the script refuses rather than guess: the live file is what the secondaries transferred, and
# a serial set lower than theirs would silently keep them on the old data until the zone expires (two
# weeks here). `-i none`: only the serial is wanted, not the integrity checks.
_LIVE_SERIAL = "named-checkzone -q -i none -D -o - \"$1\" \"$2\" 2>/dev/null | awk '$4 == \"SOA\" { print $7; exit }'"

FUNCTIONS = f"""\
isp_soa_awk={shlex.quote(_SOA_AWK)}
isp_next_awk={shlex.quote(_NEXT_AWK)}
# $1 the zone, $2 its live file, $3 the staged copy: gives the staged copy its serial (see zone_serial.py).
isp_zone_serial() {{
  isp_soa=$(awk "$isp_soa_awk" "$3") || {{ echo "$3 (zone $1) has no SOA line as the program renders it" \\
    "(@<TAB>IN<TAB>SOA<TAB>... ( <ten digits> ...)" >&2; exit 1; }}
  isp_at=${{isp_soa% *}} isp_live= isp_same=0 isp_last= isp_record="$isp_state/{SERIAL_DIR}/$1"
  if [ -e "$2" ] || [ -L "$2" ]; then
    if isp_found=$(awk "$isp_soa_awk" "$2"); then
      isp_live=${{isp_found#* }}
      # The same bytes but the ten digits: the same offset, and cmp -l (every differing byte, EOF on the
      # shorter file) names no byte outside them.
      if [ "${{isp_found% *}}" = "$isp_at" ] && cmp -l -- "$3" "$2" 2>&1 |
          awk -v at="$isp_at" '$1 !~ /^[0-9]+$/ || $1 <= at || $1 > at + 10 {{ d = 1; exit }} END {{ exit d }}'
      then isp_same=1; fi
    else
      isp_live=$({_LIVE_SERIAL})
      if [ -z "$isp_live" ]; then
        named-checkzone -i none "$1" "$2" >&2 || :
        echo "cannot read the SOA serial of the live zone file $2 (zone $1) with named-checkzone (above);" \\
          "the new serial must be above it for the secondaries to transfer the zone: fix the file, or move it" \\
          "away to start the zone at YYYYMMDD00" >&2
        exit 1
      fi
    fi
  fi
  if [ -e "$isp_record" ]; then isp_last=$(cat -- "$isp_record"); fi
  isp_new=$(awk -v live="$isp_live" -v same="$isp_same" -v last="$isp_last" -v today="$isp_today" \\
    -v record="$isp_record" "$isp_next_awk") || {{
    echo "refusing to set the SOA serial of zone $1 ($2): $isp_new" >&2; exit 1; }}
  isp_out=$(printf '%s' "$isp_new" | dd of="$3" bs=1 seek="$isp_at" count=10 conv=notrunc 2>&1) &&
    [ "$(awk "$isp_soa_awk" "$3")" = "$isp_at $isp_new" ] || {{
    echo "could not write the SOA serial $isp_new into $3: $isp_out" >&2; exit 1; }}
  if [ "$isp_same" = 1 ] && [ "$isp_new" = "$isp_live" ]; then
    echo "zone $1: unchanged, SOA serial $isp_new kept"
  else
    echo "zone $1: SOA serial $isp_new (live: ${{isp_live:-none}})"
  fi
}}
# $1 the zone, $2 its real path, just swapped in: keeps its serial as the highest delivered (never lowers it).
isp_zone_serial_kept() {{
  isp_soa=$(awk "$isp_soa_awk" "$2") && isp_new=${{isp_soa#* }} isp_record="$isp_state/{SERIAL_DIR}/$1" &&
    mkdir -p -- "$isp_state/{SERIAL_DIR}" || return 1
  isp_last=$(cat -- "$isp_record" 2>/dev/null) || isp_last=
  if [ -n "$isp_last" ] && awk -v a="$isp_last" -v b="$isp_new" 'BEGIN {{ exit !(a + 0 >= b + 0) }}'; then
    return 0
  fi
  printf '%s\\n' "$isp_new" > "$isp_record.new" && mv -f -- "$isp_record.new" "$isp_record"
}}"""


def check_zone(zone: str, path: str) -> None:
    """A zone name the script can hand to named-checkzone and use as a file name under the state dir."""
    if not _ZONE_RE.fullmatch(zone) or len(zone) > 254:
        raise ValueError(f"{path!r}: zone must be a domain name of letters, digits, _ and -, got {zone!r}")


def stamp_lines(zones: Sequence[tuple[str, str, str]]) -> list[str]:
    """The install script's lines, before the checks, that give each staged zone copy its serial.
    `zones`: (zone, real path, staged path) of each zone file delivered."""
    if not zones:
        return []
    q = shlex.quote
    lines = [FUNCTIONS, "isp_doing='reading the date for the zone serials'", "isp_today=$(date -u +%Y%m%d)"]
    for zone, real, staged in zones:
        lines += [f"isp_doing={q(f'setting the SOA serial of {real}')}",
                  f"isp_zone_serial {q(zone.rstrip('.'))} {q(real)} {q(staged)}"]
    return lines


def kept_lines(zones: Sequence[tuple[str, str, str]]) -> list[str]:
    """The lines, after the swap and before the reload (from when named may load and NOTIFY a serial),
    that keep each zone's serial as the highest delivered."""
    q = shlex.quote
    return [f"isp_doing={q(f'keeping the SOA serial of {real}')}\nisp_zone_serial_kept {q(zone.rstrip('.'))} {q(real)}"
            for zone, real, _ in zones]
