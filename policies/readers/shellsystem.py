"""What a shell script installs and starts, for `readers.shellscript`: apt-get/apt/aptitude (and dnf, yum,
apk), systemctl, service, invoke-rc.d, update-rc.d, /etc/init.d scripts, read with the options their
manuals give (apt-get(8), systemctl(1))."""

from __future__ import annotations

from readers.shellexpand import getopt

_START = {"enable", "start", "restart", "reload", "reload-or-restart", "try-restart", "try-reload-or-restart",
          "condrestart", "force-reload", "reenable"}
_STOP = {"stop", "disable", "mask"}


def packages(reader, name, args, ctx, stdin, line, node, depth):
    options, operands = getopt(args, set("octa") if name.startswith("apt") else set("c"),
                                 {"--option", "--config-file", "--target-release", "--host-architecture"})
    if not operands or operands[0].text is None:
        return None
    verb, words = operands[0].text, operands[1:]
    installs = {"install", "reinstall", "add"} if name != "apk" else {"add"}
    removes = {"remove", "purge", "erase", "del", "autoremove"}
    if verb not in installs | removes:
        return None
    target = reader.out.packages if verb in installs else reader.out.removed_packages
    for w in words:
        if w.text is None:
            reader.out.note(line, f"{name} {verb} {w.shown}: package names known only when the command runs")
            continue
        if "/" in w.text.split("=")[0] and (w.text.startswith((".", "/")) or w.text.endswith(".deb")):
            continue  # a local .deb file, not a package name
        target.append(w.text.split("=")[0].split(":")[0].split("/")[0])
    return None


def service(reader, unit: str | None, action: str | None, line: int) -> None:
    if not unit or not action:
        return
    unit = unit[:-len(".service")] if unit.endswith(".service") else unit
    mapped = {"defaults": "enable", "on": "enable", "add": "enable", "off": "disable", "remove": "disable"}.get(
        action, action)
    if mapped in _START | _STOP:
        reader.out.services.append((unit, mapped, line))


def systemctl(reader, name, args, ctx, stdin, line, node, depth):
    options, operands = getopt(args, set("HMtpPo"), {"--host", "--machine", "--root", "--type", "--property"})
    if any(k in options for k in ("-H", "--host", "-M", "--machine")):
        return None  # another machine
    texts = [o.text for o in operands if o.text is not None]
    if not texts:
        return None
    verb, units = texts[0], texts[1:]
    for unit in units:
        service(reader, unit, verb, line)
        if "--now" in options and verb in ("enable", "disable", "mask"):
            service(reader, unit, "start" if verb == "enable" else "stop", line)
    return None


def service_command(reader, name, args, ctx, stdin, line, node, depth):
    texts = [a.text for a in args if a.text is not None and not a.text.startswith("-")]
    if len(texts) >= 2:  # service NAME ACTION, chkconfig NAME on; rc-update add NAME
        unit, action = (texts[1], texts[0]) if name == "rc-update" else (texts[0], texts[1])
        service(reader, unit, action, line)
    return None
