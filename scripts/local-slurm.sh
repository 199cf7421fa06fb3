#!/usr/bin/env bash
# A real one-node SLURM cluster for the tests (`docs/launch.md`).
#
# Usage: scripts/local-slurm.sh up|down|status
#
#   up      Installs Debian's slurmctld, slurmd, slurm-client and munge when missing (as root),
#           writes this cluster's configuration, starts munged (unless one already runs),
#           slurmctld and slurmd, and waits until the node is idle. Idempotent: when this
#           script's cluster already runs with the same configuration, it only waits for the
#           node. A SLURM not started by this script, or this script's cluster running with
#           another configuration, is reported and left alone (exit 1).
#   down    Stops the daemons this script started (munged only if it started it) and removes
#           the /etc/slurm/slurm.conf link it made. Nothing else is touched; the state
#           directory (configuration, job state, logs) is kept for the next `up`.
#   status  Prints the state directory, each daemon and the node's state. Exit 0 when this
#           script's cluster runs and its node takes jobs, 1 otherwise.
#
# The cluster: one node named `hostname -s` with CPUs = `nproc`, RealMemory = MemTotal in MB,
# 8 GPUs as GRES (`Gres=gpu:8`) backed by character devices (1,3) made with mknod; one
# partition `local`, the default. No accounting (sacct does not work), no cgroups, no systemd.
#
# Everything lives in the state directory, BENCH_SLURM_DIR (default /var/tmp/bench-slurm):
#   etc/slurm.conf, etc/gres.conf   the configuration; client commands (sbatch, squeue, ...)
#                                   find it through the link /etc/slurm/slurm.conf
#   dev/fakegpu[0-7]                the eight GPU devices
#   state/  spool/                  slurmctld's saved state, slurmd's spool
#   log/                            slurmctld.log, slurmd.log, and the daemons' own output
#   run/                            pid files; run/munged.pid only when this script started munged
#   lock                            serializes concurrent up/down calls (flock)
# BENCH_SLURM_TIMEOUT (seconds, default 90) bounds each wait for a daemon or the node.
#
# Exit codes: 0 success, 1 failure (the reason on stderr), 2 usage.
set -euo pipefail

readonly STATE_DIR="${BENCH_SLURM_DIR:-/var/tmp/bench-slurm}"
readonly CONF="$STATE_DIR/etc/slurm.conf"
readonly GRES_CONF="$STATE_DIR/etc/gres.conf"
readonly DEV_DIR="$STATE_DIR/dev"
readonly RUN_DIR="$STATE_DIR/run"
readonly LOG_DIR="$STATE_DIR/log"
readonly CLIENT_CONF=/etc/slurm/slurm.conf
readonly TIMEOUT="${BENCH_SLURM_TIMEOUT:-90}"
readonly PACKAGES=(slurmctld slurmd slurm-client munge)
NODE="$(hostname -s)"
readonly NODE

log() { printf 'local-slurm: %s\n' "$*" >&2; }
die() {
    printf 'local-slurm: error: %s\n' "$1" >&2
    shift
    local line
    for line in "$@"; do printf '  %s\n' "$line" >&2; done
    exit 1
}

usage() {
    printf 'usage: %s up|down|status\n' "$0" >&2
    exit 2
}

# Whether process $1 is a zombie: a daemon's exited first fork lingers as one until reaped.
is_zombie() {
    grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# The pid in pid file $1 if that process is alive and its command name is $2; nothing otherwise.
live_pid() {
    local file="$1" name="$2" pid comm
    [[ -r "$file" ]] || return 0
    pid="$(tr -dc '0-9' 2>/dev/null <"$file" || true)"
    [[ -n "$pid" ]] || return 0
    comm="$(cat "/proc/$pid/comm" 2>/dev/null || true)"
    if [[ "$comm" == "$name" ]] && ! is_zombie "$pid"; then
        printf '%s\n' "$pid"
    fi
}

# Pids of live processes named $1 other than $2 (this script's own daemon, may be empty).
other_pids() {
    local name="$1" ours="$2" pid
    for pid in $(pgrep -x "$name" || true); do
        [[ "$pid" == "$ours" ]] || is_zombie "$pid" || printf '%s ' "$pid"
    done
}

memory_mb() {
    awk '/^MemTotal:/ { printf "%d\n", $2 / 1024 }' /proc/meminfo
}

# The configuration this machine gets, on stdout. Only the node's size depends on the machine.
render_slurm_conf() {
    local cpus mem
    cpus="$(nproc)"
    mem="$(memory_mb)"
    cat <<EOF
# Written by scripts/local-slurm.sh: a one-node test cluster. Edits are overwritten by \`up\`.
ClusterName=bench-local
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((mem / cpus))
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ReturnToService=2
SlurmdParameters=config_overrides
StateSaveLocation=$STATE_DIR/state
SlurmdSpoolDir=$STATE_DIR/spool/slurmd
SlurmctldPidFile=$RUN_DIR/slurmctld.pid
SlurmdPidFile=$RUN_DIR/slurmd.pid
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:8 State=UNKNOWN
PartitionName=local Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

render_gres_conf() {
    cat <<EOF
# Written by scripts/local-slurm.sh: eight fake GPUs, character devices like /dev/null.
AutoDetect=off
NodeName=$NODE Name=gpu File=$DEV_DIR/fakegpu[0-7]
EOF
}

require_root() {
    [[ "$(id -u)" == 0 ]] || die "\`$1\` needs root (SLURM's daemons run as root)" \
        "hint: run \`sudo $0 $1\`"
}

install_packages() {
    local missing=() cmd
    for cmd in slurmctld slurmd sbatch squeue scontrol munged; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
    ((${#missing[@]} == 0)) && return 0
    log "missing ${missing[*]}: installing ${PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q </dev/null >&2 || die "\`apt-get update\` failed"
    apt-get install -y -q --no-install-recommends "${PACKAGES[@]}" </dev/null >&2 ||
        die "\`apt-get install ${PACKAGES[*]}\` failed"
}

make_gpu_devices() {
    local i dev
    mkdir -p "$DEV_DIR"
    for i in 0 1 2 3 4 5 6 7; do
        dev="$DEV_DIR/fakegpu$i"
        if [[ ! -c "$dev" ]]; then
            rm -f "$dev"
            mknod "$dev" c 1 3 || die "cannot create the character device \`$dev\` (mknod)"
        fi
    done
}

# Starts munged as the munge user unless one already runs; records the pid only if started here.
start_munge() {
    local pid
    if [[ -n "$(other_pids munged "")" ]]; then
        return 0
    fi
    if [[ ! -s /etc/munge/munge.key ]]; then
        log "creating /etc/munge/munge.key"
        runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key ||
            die "cannot create /etc/munge/munge.key"
    fi
    mkdir -p /run/munge
    chown munge:munge /run/munge
    chmod 0755 /run/munge
    runuser -u munge -- munged --force </dev/null >>"$LOG_DIR/munged.stdout" 2>&1 9>&- ||
        die "munged did not start" "see /var/log/munge/munged.log"
    pid="$(live_pid /run/munge/munged.pid munged)"
    [[ -n "$pid" ]] || die "munged did not start" "see /var/log/munge/munged.log"
    printf '%s\n' "$pid" >"$RUN_DIR/munged.pid"
    log "started munged (pid $pid)"
}

# Starts daemon $1 (slurmctld or slurmd) with this cluster's configuration and waits for its pid.
start_daemon() {
    local name="$1" pid waited=0
    # The daemon must not keep the caller's pipes nor the lock (fd 9) open.
    "$name" -f "$CONF" </dev/null >>"$LOG_DIR/$name.stdout" 2>&1 9>&- ||
        die "\`$name\` failed to start" "see $LOG_DIR/$name.log and $LOG_DIR/$name.stdout"
    while :; do
        pid="$(live_pid "$RUN_DIR/$name.pid" "$name")"
        [[ -n "$pid" ]] && break
        ((waited < TIMEOUT)) || die "\`$name\` did not stay up" \
            "last lines of $LOG_DIR/$name.log:" "$(tail -n 5 "$LOG_DIR/$name.log" 2>/dev/null)"
        sleep 1
        waited=$((waited + 1))
    done
    log "started $name (pid $pid)"
}

# The node's state as scontrol spells it (IDLE, MIXED, DOWN+NOT_RESPONDING, ...), and its reason.
# Both print nothing while slurmctld does not answer.
node_state() {
    local line
    line="$(SLURM_CONF="$CONF" scontrol -o show node "$NODE" 2>/dev/null || true)"
    sed -n 's/.* State=\([^ ]*\).*/\1/p' <<<"$line"
}

node_reason() {
    local line
    line="$(SLURM_CONF="$CONF" scontrol -o show node "$NODE" 2>/dev/null || true)"
    sed -n 's/.* Reason=\(.*\)$/\1/p' <<<"$line"
}

# Waits until the node takes jobs: IDLE (or MIXED/ALLOCATED when jobs are running).
wait_for_node() {
    local state waited=0
    while :; do
        state="$(node_state)"
        case "$state" in
        IDLE | MIXED | ALLOCATED)
            log "node $NODE is ${state,,}"
            return 0
            ;;
        esac
        ((waited < TIMEOUT)) || die "node \`$NODE\` is \`${state:-unknown}\` after ${TIMEOUT}s, not idle" \
            "reason: $(node_reason)" \
            "see $LOG_DIR/slurmctld.log and $LOG_DIR/slurmd.log"
        sleep 1
        waited=$((waited + 1))
    done
}

# Serializes up/down calls on fd 9. A user other than root may only read the lock file, which
# flock accepts; without one there is no cluster yet, and starting one needs root anyway.
lock_state_dir() {
    if [[ "$(id -u)" == 0 ]]; then
        mkdir -p "$STATE_DIR"
        exec 9>"$STATE_DIR/lock"
    elif [[ -r "$STATE_DIR/lock" ]]; then
        exec 9<"$STATE_DIR/lock"
    else
        return 0
    fi
    flock 9
}

# Fails when a SLURM daemon or client configuration not made by this script is present.
refuse_foreign_cluster() {
    local ctld_pid="$1" slurmd_pid="$2" others target
    others="$(other_pids slurmctld "$ctld_pid")$(other_pids slurmd "$slurmd_pid")"
    if [[ -n "$others" ]]; then
        die "a SLURM not started by this script is running (pids ${others% }); left as is" \
            "hint: stop it first, or use it directly"
    fi
    if [[ -e "$CLIENT_CONF" || -L "$CLIENT_CONF" ]]; then
        target="$(readlink "$CLIENT_CONF" || true)"
        [[ "$target" == "$CONF" ]] || die "\`$CLIENT_CONF\` exists and was not made by this script; left as is" \
            "hint: move it away to let this script link its own configuration there"
    fi
}

cmd_up() {
    local ctld_pid slurmd_pid new_conf
    lock_state_dir
    ctld_pid="$(live_pid "$RUN_DIR/slurmctld.pid" slurmctld)"
    slurmd_pid="$(live_pid "$RUN_DIR/slurmd.pid" slurmd)"
    [[ -n "$ctld_pid" && -n "$slurmd_pid" ]] || require_root up
    install_packages
    refuse_foreign_cluster "$ctld_pid" "$slurmd_pid"
    mkdir -p "$STATE_DIR/etc" "$STATE_DIR/state" "$STATE_DIR/spool/slurmd" "$RUN_DIR" "$LOG_DIR"
    new_conf="$(render_slurm_conf)"
    if [[ -n "$ctld_pid" || -n "$slurmd_pid" ]]; then
        if [[ "$new_conf" != "$(cat "$CONF" 2>/dev/null)" ]]; then
            die "this script's cluster is running with another configuration; left as is" \
                "running: $CONF" \
                "$(diff <(cat "$CONF" 2>/dev/null) <(printf '%s\n' "$new_conf") || true)" \
                "hint: run \`$0 down\` first, then \`$0 up\`"
        fi
    else
        printf '%s\n' "$new_conf" >"$CONF"
        render_gres_conf >"$GRES_CONF"
    fi
    make_gpu_devices
    start_munge
    [[ -n "$ctld_pid" ]] || start_daemon slurmctld
    [[ -n "$slurmd_pid" ]] || start_daemon slurmd
    if [[ ! -L "$CLIENT_CONF" ]]; then
        mkdir -p "$(dirname "$CLIENT_CONF")"
        ln -s "$CONF" "$CLIENT_CONF"
    fi
    wait_for_node
}

# Sends TERM to the daemon in pid file $1 named $2 and waits for it to exit (KILL after TIMEOUT).
stop_daemon() {
    local file="$1" name="$2" pid waited=0
    pid="$(live_pid "$file" "$name")"
    if [[ -z "$pid" ]]; then
        rm -f "$file"
        return 0
    fi
    kill -TERM "$pid" 2>/dev/null || true
    while [[ -n "$(live_pid "$file" "$name")" ]]; do
        if ((waited >= TIMEOUT)); then
            log "$name (pid $pid) ignored TERM for ${TIMEOUT}s: sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 1
            break
        fi
        sleep 1
        waited=$((waited + 1))
    done
    rm -f "$file"
    log "stopped $name (pid $pid)"
}

cmd_down() {
    lock_state_dir
    local ours=0 name
    for name in slurmd slurmctld munged; do
        if [[ -n "$(live_pid "$RUN_DIR/$name.pid" "$name")" ]]; then
            ours=1
        fi
    done
    if ((ours)); then
        require_root down
    fi
    stop_daemon "$RUN_DIR/slurmd.pid" slurmd
    stop_daemon "$RUN_DIR/slurmctld.pid" slurmctld
    stop_daemon "$RUN_DIR/munged.pid" munged
    if [[ -L "$CLIENT_CONF" && "$(readlink "$CLIENT_CONF")" == "$CONF" ]]; then
        rm -f "$CLIENT_CONF"
    fi
    ((ours)) || log "this script's cluster was not running"
    local others
    others="$(other_pids slurmctld "")$(other_pids slurmd "")"
    [[ -z "$others" ]] || log "left running, not started by this script: pids ${others% }"
}

# One status line for daemon $1: running with pid (ours), running but not ours, or stopped.
daemon_status() {
    local name="$1" pid others
    pid="$(live_pid "$RUN_DIR/$name.pid" "$name")"
    others="$(other_pids "$name" "$pid")"
    if [[ -n "$pid" ]]; then
        printf '%-10s running (pid %s, started by this script)\n' "$name:" "$pid"
    elif [[ -n "$others" ]]; then
        printf '%-10s running (pids %s, NOT started by this script)\n' "$name:" "${others% }"
    else
        printf '%-10s stopped\n' "$name:"
    fi
}

cmd_status() {
    local state ok=1
    printf '%-10s %s\n' "state dir:" "$STATE_DIR" "config:" "$CONF"
    if [[ -L "$CLIENT_CONF" ]]; then
        printf '%-10s %s -> %s\n' "clients:" "$CLIENT_CONF" "$(readlink "$CLIENT_CONF")"
    elif [[ -e "$CLIENT_CONF" ]]; then
        printf '%-10s %s (NOT made by this script)\n' "clients:" "$CLIENT_CONF"
    else
        printf '%-10s %s missing\n' "clients:" "$CLIENT_CONF"
    fi
    daemon_status munged
    daemon_status slurmctld
    daemon_status slurmd
    [[ -n "$(live_pid "$RUN_DIR/slurmctld.pid" slurmctld)" ]] || ok=0
    [[ -n "$(live_pid "$RUN_DIR/slurmd.pid" slurmd)" ]] || ok=0
    state=""
    if ((ok)); then
        state="$(node_state)"
    fi
    case "$state" in
    IDLE | MIXED | ALLOCATED)
        printf '%-10s %s\n' "node:" "$NODE ${state,,}"
        ;;
    "")
        printf '%-10s %s\n' "node:" "$NODE not reachable"
        ok=0
        ;;
    *)
        printf '%-10s %s\n' "node:" "$NODE ${state,,} (reason: $(node_reason))"
        ok=0
        ;;
    esac
    ((ok))
}

main() {
    (($# == 1)) || usage
    case "$1" in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *) usage ;;
    esac
}

main "$@"
