#!/bin/sh
# `systemctl` for a lab host, installed by the lab as /usr/local/sbin/systemctl inside the host
# only (the host's /usr/local is an overlay of its own). The lab's namespaces have no systemd, so
# this starts, stops and reloads the few daemons a lab host runs, as their Debian units would.
# Daemons run in the foreground under `setsid`, their output in /var/log/isp-lab/<unit>.log, their
# pid in /run/isp-lab/<unit>.pid; Postfix manages its own master, as `postfix start` does.
set -eu
log_dir=/var/log/isp-lab
run_dir=/run/isp-lab
mkdir -p "$log_dir" "$run_dir"

die() { echo "systemctl (lab): $*" >&2; exit 1; }

pid_of() { cat "$run_dir/$1.pid" 2>/dev/null; }

alive() {
  case $1 in
    postfix) postfix status >/dev/null 2>&1 ;;
    *.timer) [ -e "$run_dir/$1.active" ] ;;
    *) pid=$(pid_of "$1") && kill -0 "$pid" 2>/dev/null ;;
  esac
}

launch() {  # unit, argv...
  unit=$1; shift
  # As systemd would: default signal dispositions (a background job of sh ignores SIGINT), and no
  # descriptor of the caller's kept open (a lock held by `flock ... lab shell` must not outlive it).
  env --default-signal setsid "$@" </dev/null >>"$log_dir/$unit.log" 2>&1 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  echo $! >"$run_dir/$unit.pid"
  sleep 0.2
  alive "$unit" || die "$unit exited at once; see $log_dir/$unit.log"
}

wait_gone() {  # unit, pid [kill]: with "kill", SIGKILL after 5 s, as systemd does after TimeoutStopSec
  i=0
  while kill -0 "$2" 2>/dev/null; do
    i=$((i + 1))
    if [ $i -gt 50 ]; then
      [ "${3:-}" = kill ] || die "$1 (pid $2) did not stop within 5 s"
      [ $i -gt 51 ] || kill -s KILL "$2" 2>/dev/null || true
      [ $i -le 70 ] || die "$1 (pid $2) did not stop within 7 s, even after SIGKILL"
    fi
    sleep 0.1
  done
}

start() {
  alive "$1" && return 0
  case $1 in
    named)
      install -d -o bind -g bind -m 0775 /run/named
      # -4: the lab has no IPv6; -g: foreground, log to stderr (there is no syslog here).
      launch named named -4 -u bind -g ;;
    postfix)
      # Debian's unit prepares the chroot (resolv.conf, services, ...) the same way.
      /usr/lib/postfix/configure-instance.sh - </dev/null >>"$log_dir/postfix.log" 2>&1
      postfix start </dev/null >>"$log_dir/postfix.log" 2>&1 ;;
    dovecot)
      # Started once the master has written its pid: `doveadm reload` (the delivery's next step) reads it,
      # and says "Dovecot is not running" before then. A stale one (not running: see alive) would pass.
      pid_file="$(doveconf -h base_dir)/master.pid"
      rm -f "$pid_file"
      launch dovecot dovecot -F
      i=0
      until [ -s "$pid_file" ]; do
        alive dovecot || die "dovecot exited while starting; see $log_dir/dovecot.log"
        i=$((i + 1)); [ $i -le 100 ] || die "dovecot: no $pid_file within 10 s"
        sleep 0.1
      done ;;
    opendkim)
      # Debian's unit: RuntimeDirectory=opendkim (owned by its User), UMask=0007; -f keeps it in
      # the foreground (opendkim(8)), -x the configuration file the package reads.
      install -d -o opendkim -g opendkim -m 0750 /run/opendkim
      launch opendkim sh -c 'umask 0007 && exec opendkim -f -x /etc/opendkim.conf' ;;
    nginx) launch nginx nginx -g 'daemon off;' ;;
    php8.2-fpm)
      # Debian's unit: php-fpm8.2 in the foreground with its configuration, /run/php as the package's
      # tmpfiles.d makes it. Ready (Type=notify) once the pool's socket exists: nginx's upstream.
      install -d -o www-data -g www-data -m 0755 /run/php
      rm -f /run/php/php8.2-fpm.sock  # a stale socket would pass for readiness
      launch php8.2-fpm php-fpm8.2 -F --fpm-config /etc/php/8.2/fpm/php-fpm.conf
      i=0
      until [ -S /run/php/php8.2-fpm.sock ]; do
        i=$((i + 1)); [ $i -le 100 ] || die "php8.2-fpm: no socket /run/php/php8.2-fpm.sock within 10 s"
        sleep 0.1
      done ;;
    policyd-rate-limit) launch policyd-rate-limit policyd-rate-limit ;;
    postgresql)
      # Debian's postgresql@<version>-main unit, for the newest cluster named main; unix socket only.
      conf=$(ls -d /etc/postgresql/*/main 2>/dev/null | sort -V | tail -n 1)
      [ -n "$conf" ] || die "no PostgreSQL cluster main under /etc/postgresql"
      version=$(basename "$(dirname "$conf")")
      install -d -o postgres -g postgres -m 2775 /run/postgresql
      launch postgresql setpriv --reuid=postgres --regid=postgres --init-groups \
        "/usr/lib/postgresql/$version/bin/postgres" -D "$conf" -c listen_addresses= ;;
    mariadb)
      # Debian's mariadb unit: /run/mysqld for the mysql user, mariadbd as User=mysql reading the stock
      # /etc/mysql (socket /run/mysqld/mysqld.sock); --skip-networking: its unix socket only, like our
      # PostgreSQL. Type=notify there: started once the server answers, so wait for that here.
      install -d -o mysql -g root -m 0755 /run/mysqld
      launch mariadb setpriv --reuid=mysql --regid=mysql --init-groups /usr/sbin/mariadbd --skip-networking
      i=0
      until mariadb-admin --silent ping >/dev/null 2>&1; do
        alive mariadb || die "mariadb exited while starting; see $log_dir/mariadb.log"
        i=$((i + 1))
        [ $i -le 300 ] || die "mariadb did not answer on /run/mysqld/mysqld.sock within 30 s"
        sleep 0.1
      done ;;
    # The lab never fires timers (there is no systemd clock here); a probe runs the service itself.
    *.timer) : >"$run_dir/$1.active" ;;
    *) die "unit $1 is not one the lab runs" ;;
  esac
}

enable() {  # as `systemctl enable`: the unit wanted by its target (services by multi-user, timers by timers)
  case $1 in
    *.timer) wants=/etc/systemd/system/timers.target.wants ;;
    *) wants=/etc/systemd/system/multi-user.target.wants ;;
  esac
  unit_file=/etc/systemd/system/$1
  case $1 in *.*) ;; *) unit_file=$unit_file.service ;; esac
  [ -e "$unit_file" ] || die "unit file $unit_file does not exist"
  mkdir -p "$wants"
  ln -sfn "$unit_file" "$wants/$(basename "$unit_file")"
}

stop() {
  alive "$1" || return 0
  case $1 in
    postfix) postfix stop </dev/null >>"$log_dir/postfix.log" 2>&1; return 0 ;;
    *.timer) rm -f "$run_dir/$1.active"; return 0 ;;
    postgresql) signal=INT ;;  # pg_ctlcluster's default: fast shutdown
    policyd-rate-limit) signal=INT ;;  # its unit's KillSignal
    nginx) signal=QUIT ;;
    *) signal=TERM ;;
  esac
  pid=$(pid_of "$1")
  kill -s "$signal" "$pid" 2>/dev/null || true
  case $1 in
    # libmilter waits for the milter connections Postfix keeps open (its cleanup and smtpd processes
    # reuse them until idle), so OpenDKIM may not exit on TERM alone; it keeps no state worth waiting for.
    opendkim) wait_gone "$1" "$pid" kill ;;
    *) wait_gone "$1" "$pid" ;;
  esac
}

reload() {
  alive "$1" || die "$1 is not running"
  case $1 in
    named) rndc reload >/dev/null ;;
    postfix) postfix reload </dev/null >>"$log_dir/postfix.log" 2>&1 ;;
    dovecot) doveadm reload ;;
    nginx) nginx -t -q && kill -s HUP "$(pid_of nginx)" ;;
    opendkim) kill -s USR1 "$(pid_of opendkim)" ;;  # the unit's ExecReload: rereads its configuration
    php8.2-fpm) kill -s USR2 "$(pid_of php8.2-fpm)" ;;  # the unit's ExecReload: a graceful restart of the pool
    *) stop "$1"; start "$1" ;;
  esac
}

[ "${1:-}" = daemon-reload ] && exit 0  # unit files are read when a unit starts, not cached
[ $# -ge 2 ] || die "usage: systemctl start|stop|restart|reload|is-active|enable [--now] UNIT..."
verb=$1; shift
now=no
if [ "$verb" = enable ] && [ "$1" = --now ]; then now=yes; shift; fi
status=0
for unit in "$@"; do
  unit=${unit%.service}
  case $verb in
    start) start "$unit" ;;
    stop) stop "$unit" ;;
    restart) stop "$unit"; start "$unit" ;;
    reload) reload "$unit" ;;
    reload-or-restart) if alive "$unit"; then reload "$unit"; else start "$unit"; fi ;;
    is-active) if alive "$unit"; then echo active; else echo inactive; status=3; fi ;;
    enable) enable "$unit"; [ $now = no ] || start "$unit" ;;
    *) die "verb $verb is not one the lab supports" ;;
  esac
done
exit $status
