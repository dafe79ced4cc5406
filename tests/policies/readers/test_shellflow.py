"""readers.shellflow: which lines of a firewall script run, with variables substituted."""

from __future__ import annotations

from readers import shellflow

INIT_SCRIPT = """#!/bin/sh
### BEGIN INIT INFO
# Provides:          firewall
### END INIT INFO
IPT=/sbin/iptables
CUSTOMERS="100.64.0.0/10 198.18.0.0/15"

do_start()
{
    for net in $CUSTOMERS
    do
        $IPT -A FORWARD -s $net -p tcp --dport 25 -j REJECT
    done
}

function do_stop {
    $IPT -F
    $IPT -P FORWARD ACCEPT
}

case "$1" in
  start|restart|force-reload)
    do_start
    ;;
  stop)
    do_stop
    ;;
  *)
    echo "Usage: $0 {start|stop}" >&2
    exit 3
    ;;
esac
"""


def texts(text: str) -> list[str]:
    return [line.text.strip() for line in shellflow.flatten(text)]


def test_init_script_runs_its_start_branch_only() -> None:
    ran = texts(INIT_SCRIPT)
    assert "/sbin/iptables -A FORWARD -s 100.64.0.0/10 -p tcp --dport 25 -j REJECT" in ran
    assert "/sbin/iptables -A FORWARD -s 198.18.0.0/15 -p tcp --dport 25 -j REJECT" in ran
    assert not any("-F" in line or "-P FORWARD ACCEPT" in line for line in ran)
    assert not any(line.startswith("echo") for line in ran)


def test_case_without_a_start_branch_runs_the_default_and_other_subjects_run_all() -> None:
    script = 'case "${1}" in\n  stop) iptables -F ;;\n  *) iptables -A FORWARD -j DROP ;;\nesac\n'
    assert texts(script) == ["iptables -A FORWARD -j DROP"]
    by_interface = 'case "$IFACE" in\n  eth0) iptables -A INPUT -i eth0 -j DROP ;;\n  eth1) iptables -F ;;\nesac\n'
    assert texts(by_interface) == ["iptables -A INPUT -i eth0 -j DROP", "iptables -F"]


def test_variables_defaults_and_command_substitution() -> None:
    script = ('WAN=eth0\nexport MAIL="203.0.113.25"\nPUB=$(curl -s ifconfig.me)\n'
              'iptables -A FORWARD -o $WAN ! -d ${MAIL} -s ${POOL:-100.64.0.0/10} -d $PUB -j ACCEPT\n')
    assert texts(script)[-1] == "iptables -A FORWARD -o eth0 ! -d 203.0.113.25 -s 100.64.0.0/10 -d $PUB -j ACCEPT"


def test_heredocs_are_content_unless_a_shell_reads_them() -> None:
    lines = shellflow.flatten("cat > /etc/fw.sh <<'EOF'\niptables -F\nEOF\nbash <<EOF\niptables -P FORWARD DROP\nEOF\n"
                              "MAIL=203.0.113.25\niptables-restore <<EOF\n-A FORWARD -d $MAIL -j ACCEPT\nEOF\n")
    assert [line.text for line in lines][:3] == ["cat > /etc/fw.sh <<'EOF'", "bash ", "iptables -P FORWARD DROP"]
    assert lines[0].heredoc == ((2, "iptables -F"),)
    assert lines[-1].heredoc == ((9, "-A FORWARD -d 203.0.113.25 -j ACCEPT"),)  # unquoted: expanded


def test_one_line_function_and_line_numbers() -> None:
    lines = shellflow.flatten("block() { iptables -A FORWARD -p tcp --dport 25 -j DROP; }\n\nblock\n")
    assert [(line.number, line.text) for line in lines if line.text] == [(3, "block"),
                                                            (1, "iptables -A FORWARD -p tcp --dport 25 -j DROP")]


def test_odd_text_never_raises() -> None:
    assert shellflow.flatten(None) == []
    assert texts("case $1 in\n start) 'unbalanced\n") == ["'unbalanced"]
    assert texts("for x in $(seq 3); do\niptables -A FORWARD -s 10.0.0.$x -j DROP\ndone\n") == [
        "iptables -A FORWARD -s 10.0.0.$x -j DROP"]
