# shellcheck shell=bash
# scripts/lib/common.sh: what scripts/test and scripts/daemon share. Sourced
# (never run) by a bash script that has already done `set -euo pipefail`:
#
#   install_packages        the Debian packages in $sandcastle_packages, only
#                           those missing (apt-get update only then);
#                           SANDCASTLE_SKIP_APT=1 skips the check
#   ensure_swift            swift on PATH (else /opt/swift/usr/bin), docker CLI
#   ping_engine HOST        true when the engine at HOST answers /_ping
#   check_cgroups           makes cgroups usable for a dockerd (or dies)
#   wait_for_engine HOST PID TIMEOUT LOG   until HOST answers while PID lives
#   own_dockerd_paths RUNDIR DATAROOT LOG  where the script's own dockerd lives
#   start_own_dockerd WHO   reuses or starts that dockerd (own socket, data-root,
#                           exec-root, pidfile; --bridge=none --iptables=false),
#                           holding the lock RUNDIR/lock (fd 9) while in use
#   stop_own_dockerd        stops it again, and only it (SANDCASTLE_KEEP_DOCKERD=1
#                           leaves it running)
#   show_log [N] [FILE]     the last N lines of the dockerd log (own by default)
#   spawn_detached LOG CMD...  CMD as a child of init, output to LOG; prints its pid
#   take_lock FILE WHO      flock FILE on fd 9, waiting up to an hour
#   release_lock            closes fd 9
#   engine_info             one line on the engine in use, and its warnings
#
# Variables a calling script may set after sourcing: own_extra_args (array:
# more arguments for the own dockerd), own_detach (1: the own dockerd is not a
# child of the script and outlives it), no_memory_limit, no_pids_limit (what
# engine_info says an engine without those limits breaks). Environment read here:
# SANDCASTLE_SKIP_APT, SANDCASTLE_KEEP_DOCKERD, SANDCASTLE_DOCKERD_ARGS,
# SANDCASTLE_DOCKERD_TIMEOUT.
# shellcheck disable=SC2034  # variables set here are used by the scripts that source this file

export DEBIAN_FRONTEND=noninteractive
# CI may start us with stdin closed: give everything below a harmless one.
{ true <&0; } 2>/dev/null || exec </dev/null

# The Debian packages the build, the test image, the tests and the daemon need.
sandcastle_packages=(
    # engine and test images (debootstrap: the Debian test image, Images/debian/build)
    docker.io busybox-static gcc libc6-dev debootstrap
    # C libraries the Swift targets link
    libcurl4-openssl-dev libseccomp-dev libcap-dev libsqlite3-dev libarchive-dev libvterm-dev pkg-config
    # what the tests and these scripts use (e2fsprogs and mount: workspace size limits; xfsprogs:
    # the project-quota tests' XFS volume; python3-venv: schemathesis, installed with pip)
    e2fsprogs xfsprogs util-linux mount iproute2 curl ca-certificates procps tar git python3-venv
    # an independent terminal emulator the screen tests compare the daemon's repaints with
    python3-pyte
    # a real browser on the terminal WebSocket: headless Chromium running Debian's xterm.js (the
    # browser entry point in libjs-xterm, its CommonJS modules in node-xterm) (BrowserScreenTests)
    chromium libjs-xterm node-xterm
    # the egress tests' outside world: a CA and certificates, and the servers (Tests/EgressIntegrationTests)
    openssl python3
    # the bench's bare relay, the reference beside the daemon's terminal echo
    socat
    # systemd-analyze verify/security on the units in systemd/ (no systemd needs to run)
    systemd
    # what the Swift toolchain in /opt/swift links with
    binutils libstdc++-12-dev libgcc-12-dev zlib1g-dev
)
# More dockerd arguments for the own dockerd (the calling script may set them).
own_extra_args=()

host_sock=/var/run/docker.sock

say() { printf '%s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# --- packages ----------------------------------------------------------------------
install_packages() {
    if [ "${SANDCASTLE_SKIP_APT:-0}" = 1 ]; then
        say "==> SANDCASTLE_SKIP_APT=1: not checking Debian packages"
        return
    fi
    command -v dpkg-query >/dev/null || die "not a Debian system (no dpkg-query)"
    local missing=() p st
    for p in "${sandcastle_packages[@]}"; do
        st="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
        [ "$st" = installed ] || missing+=("$p")
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        say "==> packages: all ${#sandcastle_packages[@]} present"
        return
    fi
    say "==> installing packages: ${missing[*]}"
    local apt_opts=(-y -qq -o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
    # needrestart (when present) would otherwise print its report or ask.
    export NEEDRESTART_SUSPEND=1 NEEDRESTART_MODE=a
    apt-get update -qq </dev/null >&2 || die "apt-get update failed"
    apt-get install "${apt_opts[@]}" --no-install-recommends "${missing[@]}" </dev/null >&2 ||
        die "apt-get install failed"
}

# schemathesis (PyPI) on PATH for the OpenAPI fuzzing test: the one already installed, else one
# in a virtual environment of its own (made once). Without it that test is skipped, with its reason.
ensure_schemathesis() {
    command -v schemathesis >/dev/null && return
    local venv=/var/lib/sandcastle-test/venv
    if [ ! -x "$venv/bin/schemathesis" ]; then
        say "==> installing schemathesis with pip in $venv"
        if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q schemathesis; } >&2; then
            warn "could not install schemathesis; its test will be skipped"
            return
        fi
    fi
    export PATH="$venv/bin:$PATH"
}

# swift on PATH (the toolchain in /opt/swift otherwise), and the docker CLI.
ensure_swift() {
    if ! command -v swift >/dev/null; then
        [ -x /opt/swift/usr/bin/swift ] || die "no Swift toolchain (swift not on PATH, none in /opt/swift)"
        export PATH="/opt/swift/usr/bin:$PATH"
    fi
    command -v docker >/dev/null || die "docker CLI not found after installing docker.io"
}

# --- engine --------------------------------------------------------------------------
# ping HOST: true when the engine at HOST answers /_ping with OK.
ping_engine() {
    local h="$1"
    case "$h" in
    unix://*)
        local s="${h#unix://}"
        [ -S "$s" ] || return 1
        [ "$(curl -fsS --max-time 5 --unix-socket "$s" http://localhost/_ping 2>/dev/null)" = OK ]
        ;;
    "") return 1 ;;
    *) # tcp:// (maybe TLS), ssh://: let the CLI speak it
        DOCKER_HOST="$h" timeout 10 docker version >/dev/null 2>&1
        ;;
    esac
}

# alive PID: the process exists and is not a zombie.
alive() {
    [ -n "${1:-}" ] && [ -r "/proc/$1/stat" ] || return 1
    local state
    state="$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null)" || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# stop_pid PID NAME GRACE: SIGTERM, wait GRACE seconds, then SIGKILL.
stop_pid() {
    local pid="$1" name="$2" grace="$3" i
    alive "$pid" || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 5; i++)); do
        alive "$pid" || return 0
        sleep 0.2
    done
    warn "$name (pid $pid) did not stop within ${grace}s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
    for ((i = 0; i < 25; i++)); do
        alive "$pid" || return 0
        sleep 0.2
    done
    warn "$name (pid $pid) is still there after SIGKILL"
}

log_shown=0
# show_log [LINES] [FILE]: the tail of a dockerd log (the own dockerd's by default).
show_log() {
    log_shown=1
    local file="${2:-${own_log:-}}"
    [ -n "$file" ] && [ -f "$file" ] || return 0
    say "---- last ${1:-60} lines of $file ----"
    tail -n "${1:-60}" "$file" >&2 || true
    say "---- end of dockerd log ----"
}

check_cgroups() {
    local cg=/sys/fs/cgroup
    if [ -f "$cg/cgroup.controllers" ]; then
        local ctl
        ctl="$(cat "$cg/cgroup.controllers")"
        say "==> cgroup v2 (controllers: ${ctl:-none})"
        for c in memory pids cpu; do
            case " $ctl " in *" $c "*) ;; *) warn "cgroup v2 controller '$c' is not available: limits tests will fail" ;; esac
        done
        # runc needs the controllers enabled for child cgroups. On the real root
        # that just works; inside a container with its own cgroup namespace
        # ("0::/") the namespace root holds our processes, and the kernel refuses
        # (EBUSY) until they move to a child cgroup: do what docker-in-docker does.
        if [ -n "$ctl" ] && ! grep -qw memory "$cg/cgroup.subtree_control" 2>/dev/null; then
            local want
            want="$(sed -e 's/ / +/g' -e 's/^/+/' <"$cg/cgroup.controllers")"
            if echo "$want" >"$cg/cgroup.subtree_control" 2>/dev/null; then
                say "==> cgroup v2: enabled controllers for child cgroups"
            elif [ "$(cat /proc/self/cgroup)" = "0::/" ]; then
                say "==> cgroup v2 namespace root holds processes: moving them to $cg/init, delegating controllers"
                mkdir -p "$cg/init"
                local p
                while read -r p; do
                    echo "$p" >"$cg/init/cgroup.procs" 2>/dev/null || true
                done <"$cg/cgroup.procs"
                echo "$want" >"$cg/cgroup.subtree_control" ||
                    warn "could not enable cgroup v2 controllers in $cg/cgroup.subtree_control"
            else
                warn "cgroup v2 controllers are not delegated to child cgroups ($cg/cgroup.subtree_control): dockerd may fail"
            fi
        fi
    elif [ -d "$cg/memory" ] || [ -d "$cg/pids" ]; then
        say "==> cgroup v1 ($(cd "$cg" && find . -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tr '\n' ' '))"
        for c in memory pids devices cpu; do
            [ -d "$cg/$c" ] || warn "cgroup v1 hierarchy '$c' is not mounted: dockerd or limits tests may fail"
        done
    else
        # Nothing mounted (a bare chroot or container): mount the unified hierarchy.
        mkdir -p "$cg"
        if ! mountpoint -q "$cg" && grep -qw cgroup2 /proc/filesystems; then
            say "==> no cgroup hierarchy: mounting cgroup2 on $cg"
            mount -t cgroup2 -o nsdelegate cgroup2 "$cg" || die "cannot mount cgroup2 on $cg"
            check_cgroups
        else
            die "no usable cgroup hierarchy under $cg: dockerd cannot run"
        fi
    fi
}

# wait_for_engine HOST PID TIMEOUT LOG: until HOST answers /_ping; dies (with the
# log's tail) when the process PID exits first or TIMEOUT seconds pass.
wait_for_engine() {
    local host="$1" pid="$2" timeout="$3" log="$4" t0=$SECONDS
    until ping_engine "$host"; do
        if [ -n "$pid" ] && ! alive "$pid"; then
            show_log 80 "$log"
            return 2
        fi
        if [ $((SECONDS - t0)) -ge "$timeout" ]; then
            show_log 80 "$log"
            return 3
        fi
        sleep 0.2
    done
}

lock_fd_open=0
# take_lock FILE WHO: exclusive flock on FILE held on fd 9 until release_lock or
# exit; WHO names the holder we wait for.
take_lock() {
    exec 9>"$1"
    lock_fd_open=1
    if ! flock -n 9; then
        say "==> waiting for $2 (lock $1)"
        flock -w 3600 9 || die "timed out waiting for $1"
    fi
}
release_lock() {
    if [ "$lock_fd_open" = 1 ]; then
        exec 9>&-
        lock_fd_open=0
    fi
}

# own_dockerd_paths RUNDIR DATAROOT LOG: the own dockerd's socket, exec-root and
# pidfile go in RUNDIR (/run: wiped at boot), its images in DATAROOT (kept).
own_dockerd_paths() {
    state_dir="$1"
    own_sock="$state_dir/docker.sock"
    own_host="unix://$own_sock"
    own_exec_root="$state_dir/exec"
    own_pidfile="$state_dir/docker.pid"
    own_data_root="$2"
    own_log="$3"
}

# is_own_dockerd PID: PID is a dockerd started with our exec-root.
is_own_dockerd() {
    alive "$1" || return 1
    local cmd
    cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" || return 1
    case "$cmd" in
    *dockerd*"--exec-root=$own_exec_root "*) return 0 ;;
    *) return 1 ;;
    esac
}

# is_own_containerd PID: PID is a containerd started by our dockerd.
is_own_containerd() {
    alive "$1" || return 1
    local cmd
    cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" || return 1
    case "$cmd" in
    *containerd*"$own_exec_root/containerd/"*) return 0 ;;
    *) return 1 ;;
    esac
}

# spawn_detached LOG CMD...: runs CMD in a session of its own, output appended
# to LOG, as a child of init rather than of this script (so that it outlives
# the script, and whatever the script execs is not its parent); prints its pid.
spawn_detached() {
    local log="$1"
    shift
    # In the subshell the background job is not a process group leader, so
    # setsid execs CMD in the same process: $! is CMD's pid.
    (setsid "$@" </dev/null >>"$log" 2>&1 9>&- & echo $!)
}

own_pid=""
own_detach=0     # 1: start_own_dockerd starts it with spawn_detached (it outlives us)
owned=0          # 1: the engine in use is a dockerd this script started (or adopted)

# start_own_dockerd WHO: reuse the own dockerd left by an earlier run, or start
# it. WHO ("scripts/test run") is named while waiting for the lock.
start_own_dockerd() {
    mkdir -p "$state_dir" "$own_data_root" "$(dirname "$own_log")"
    chmod 0711 "$state_dir"
    # One run at a time uses the own dockerd (a second would stop it under the first).
    take_lock "$state_dir/lock" "another ${1:-run} using the own dockerd"

    # Left over from an earlier run?
    local pid=""
    [ -f "$own_pidfile" ] && pid="$(tr -dc 0-9 2>/dev/null <"$own_pidfile" || true)"
    if [ -z "$pid" ] || ! is_own_dockerd "$pid"; then
        # the pidfile may be gone while the process is still there: look for it by id
        pid=""
        local p comm
        for p in /proc/[0-9]*; do
            comm=""
            read -r comm <"$p/comm" 2>/dev/null || continue
            [ "$comm" = dockerd ] || continue
            if is_own_dockerd "${p#/proc/}"; then pid="${p#/proc/}"; break; fi
        done
    fi
    if [ -n "$pid" ]; then
        if ping_engine "$own_host"; then
            say "==> reusing dockerd pid $pid left by an earlier run ($own_host)"
            own_pid="$pid"
            owned=1
            return
        fi
        say "==> stopping unresponsive dockerd pid $pid left by an earlier run"
        stop_pid "$pid" "old dockerd" 30
    fi
    if [ -e "$own_pidfile" ] || [ -e "$own_sock" ]; then
        say "==> removing stale pidfile/socket in $state_dir"
        rm -f "$own_pidfile" "$own_sock"
    fi
    # A containerd whose dockerd died hard: dockerd would try to adopt whatever
    # $own_exec_root/containerd/containerd.pid names (even a dead or zombie pid,
    # then time out). Stop a live one, drop a stale pidfile.
    local cpidfile="$own_exec_root/containerd/containerd.pid" cpid=""
    [ -f "$cpidfile" ] && cpid="$(tr -dc 0-9 2>/dev/null <"$cpidfile" || true)"
    if [ -n "$cpid" ] && is_own_containerd "$cpid"; then
        say "==> stopping containerd pid $cpid left by an earlier dockerd"
        stop_pid "$cpid" "old containerd" 15
    fi
    rm -f "$cpidfile"

    check_cgroups
    command -v dockerd >/dev/null || die "dockerd not found (package docker.io)"
    [ -f "$own_log" ] && mv -f "$own_log" "$own_log.1"
    say "==> starting dockerd (log: $own_log)"
    local args=(
        "--host=$own_host"
        "--data-root=$own_data_root"
        "--exec-root=$own_exec_root"
        "--pidfile=$own_pidfile"
        --bridge=none --iptables=false --ip-masq=false --ip-forward=false
    )
    [ "${#own_extra_args[@]}" -gt 0 ] && args+=("${own_extra_args[@]}")
    # shellcheck disable=SC2206  # word splitting of the extra args is wanted
    [ -n "${SANDCASTLE_DOCKERD_ARGS:-}" ] && args+=(${SANDCASTLE_DOCKERD_ARGS})
    printf '%s starting: dockerd %s\n' "$(date -Is)" "${args[*]}" >"$own_log"
    if [ "$own_detach" = 1 ]; then
        own_pid="$(spawn_detached "$own_log" dockerd "${args[@]}")"
    else
        # setsid: a Ctrl-C on the terminal reaches this script (which stops dockerd
        # cleanly), not dockerd. fd 9 (the lock) is not inherited.
        setsid dockerd "${args[@]}" </dev/null >>"$own_log" 2>&1 9>&- &
        own_pid=$!
    fi
    owned=1

    local timeout="${SANDCASTLE_DOCKERD_TIMEOUT:-60}" t0=$SECONDS rc=0
    wait_for_engine "$own_host" "$own_pid" "$timeout" "$own_log" || rc=$?
    case "$rc" in
    0) ;;
    2)
        own_pid=""
        die "dockerd exited during start-up (log above: $own_log)"
        ;;
    *) die "dockerd did not answer /_ping within ${timeout}s (log above: $own_log)" ;;
    esac
    local filepid
    filepid="$(tr -dc 0-9 2>/dev/null <"$own_pidfile" || true)"
    [ -n "$filepid" ] && own_pid="$filepid"
    say "==> dockerd up (pid $own_pid) in $((SECONDS - t0))s on $own_host"
}

stop_own_dockerd() {
    [ "$owned" = 1 ] || return 0
    if [ "${SANDCASTLE_KEEP_DOCKERD:-0}" = 1 ] && [ -n "$own_pid" ]; then
        say "==> leaving dockerd pid $own_pid running on $own_host (SANDCASTLE_KEEP_DOCKERD=1)"
        return 0
    fi
    if [ -n "$own_pid" ]; then
        say "==> stopping dockerd (pid $own_pid)"
        stop_pid "$own_pid" dockerd 45
    fi
    # Its containerd normally goes with it; after a SIGKILL it may not.
    local cpid
    cpid="$(tr -dc 0-9 2>/dev/null <"$own_exec_root/containerd/containerd.pid" || true)"
    if [ -n "$cpid" ] && is_own_containerd "$cpid"; then
        stop_pid "$cpid" containerd 10
    fi
    rm -f "$own_sock" "$own_pidfile"
    # dockerd bind-mounts its data-root onto itself; a dockerd that was killed
    # leaves that mount behind (and the next one then never removes it).
    if mountpoint -q "$own_data_root" 2>/dev/null; then
        umount "$own_data_root" 2>/dev/null || true
    fi
    own_pid=""
}

no_memory_limit="memory/OOM tests will fail"
no_pids_limit="PidsLimit tests will fail"
# engine_info: what the engine at DOCKER_HOST is; the tests and the sessions
# depend on its limits.
engine_info() {
    local fmt info
    fmt='{{.ServerVersion}}|{{.CgroupVersion}}|{{.CgroupDriver}}|{{.Driver}}|{{.MemoryLimit}}|{{.SwapLimit}}|{{.PidsLimit}}|{{.DockerRootDir}}'
    info="$(timeout 30 docker info --format "$fmt" 2>/dev/null)" || die "docker info failed on $DOCKER_HOST"
    local ver cgv cgd drv mem swap pids rootdir
    IFS='|' read -r ver cgv cgd drv mem swap pids rootdir <<<"$info"
    say "==> engine: docker $ver, cgroup v$cgv ($cgd), storage $drv, root $rootdir, limits: memory=$mem swap=$swap pids=$pids"
    [ "$mem" = true ] || warn "the engine has no memory limit support: $no_memory_limit"
    [ "$swap" = true ] || warn "the engine has no swap limit support: MemorySwap is ignored"
    [ "$pids" = true ] || warn "the engine has no pids limit support: $no_pids_limit"
    timeout 30 docker info --format '{{range .Warnings}}{{println .}}{{end}}' 2>/dev/null |
        sed '/^$/d; s/^/    engine /' >&2 || true
}
