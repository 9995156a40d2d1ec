# shellcheck shell=bash
# scripts/lib/dind.sh: Docker-in-Docker for tests that mount (scripts/dind).
# Sourced after scripts/lib/common.sh by a bash script with `set -euo pipefail`.
#
#   dind_base_image          builds (offline, once per recipe) the image the
#                            container runs and prints its tag
#   dind_container_args NAME SOCKDIR   the `docker run` arguments (array
#                            dind_args) for container NAME whose /run/dind is
#                            the host directory SOCKDIR
#   dind_start NAME KEEP     creates and starts container NAME, waits for its
#                            engine (dind_host: the engine's DOCKER_HOST as
#                            seen from the host)
#   dind_reuse NAME          true when a kept container NAME runs this recipe
#                            and its engine answers (sets dind_host)
#   dind_load_images IMG...  copies the images from the outer engine into the
#                            inner one (skipping those it already has)
#   dind_remove NAME         removes the container, its volume, its socket dir
#   dind_keep_log NAME       copies the inner dockerd's log to TMPDIR
#   dind_reap_stale          removes unkept containers whose scripts/dind is gone
#
# The container: the base image is an empty root with bin/sbin/lib/lib64 as
# the host has them (merged /usr: symlinks into usr/; otherwise read-only
# binds) and a few /etc files copied from the host; the host's /usr and
# /opt/swift are bound read-only, so dockerd, containerd, runc, docker-init,
# mount, bash, curl and the Swift runtime are the host's own. Not --privileged
# (a dockerd without CAP_SYS_RESOURCE in its bounding set cannot start
# privileged containers): every capability the outer dockerd can grant,
# seccomp/AppArmor unconfined, /proc and /sys paths unmasked, every device
# allowed in the device cgroup, a private cgroup namespace, no network.
# /var/lib/docker is an anonymous volume (removed with the container).

# The calling script sets repo_root (the repository, mounted at the same path).
: "${repo_root:?scripts/lib/dind.sh needs repo_root}"

dind_recipe_version=2
dind_label=dev.sandcastle.dind
dind_run_dir=/run/sandcastle-dind
dind_inner_socket=/run/dind/docker.sock
dind_root_dirs=(bin sbin lib lib32 lib64 libx32)
dind_etc_files=(passwd group nsswitch.conf ld.so.cache ld.so.conf os-release mke2fs.conf)
# More host paths to mount at the same path (read-write); the calling script fills it.
dind_extra_mounts=()
# / in the container: shared (the default) or private (DIND_ROOT_PROPAGATION in dind-init).
dind_root_propagation=shared

# The capability names by number (capability.h), for --cap-drop.
dind_cap_names=(CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP
    LINUX_IMMUTABLE NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE
    SYS_RAWIO SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME
    SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG
    WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE)

# dind_recipe: a hash of the scripts that set the container up (a kept
# container made by other ones is not reused).
dind_recipe() {
    cat "$repo_root/scripts/lib/dind.sh" "$repo_root/scripts/lib/dind-init" "$repo_root/scripts/lib/common.sh" |
        sha256sum | cut -c1-16
}

# dind_missing_caps: the capabilities missing from the bounding set of this
# process or of a dockerd in this pid namespace (runc fails to start a
# container asking for one of them: "unable to apply caps: operation not
# permitted"). Engines inside containers (other Docker-in-Docker runs) have
# smaller sets and are not the outer engine: they are not looked at.
dind_missing_caps() {
    local bnd=0x1ffffffffff line p comm pidns
    pidns="$(readlink /proc/self/ns/pid)"
    for p in /proc/self /proc/[0-9]*; do
        if [ "$p" != /proc/self ]; then
            comm=""
            read -r comm 2>/dev/null <"$p/comm" || continue
            [ "$comm" = dockerd ] || continue
            [ "$(readlink "$p/ns/pid" 2>/dev/null)" = "$pidns" ] || continue
        fi
        line="$(grep '^CapBnd:' "$p/status" 2>/dev/null || true)"
        [ -n "$line" ] && bnd=$((bnd & 0x${line##*[[:space:]]}))
    done
    local bit
    for bit in "${!dind_cap_names[@]}"; do
        if [ $(((bnd >> bit) & 1)) = 0 ]; then printf '%s\n' "${dind_cap_names[$bit]}"; fi
    done
}

# dind_toolchain: the Swift toolchain's root (what holds usr/bin/swift and the
# runtime the test bundle links) when it is neither /opt/swift nor under /usr
# (those are mounted anyway); empty otherwise.
dind_toolchain() {
    local swift root
    swift="$(command -v swift 2>/dev/null)" || return 0
    swift="$(realpath -e "$swift" 2>/dev/null)" || return 0
    root="${swift%/usr/bin/swift*}"
    [ "$root" != "$swift" ] && [ -n "$root" ] || return 0
    case "$root/" in
    /opt/swift/* | /usr/*) ;;
    *) printf '%s\n' "$root" ;;
    esac
}

# dind_base_image: prints the tag of the base image, building it when the
# outer engine lacks it. The tag is a hash over this recipe: the version, the
# layout of the root directories and the /etc files' contents.
dind_base_image() {
    local d f layout="" h
    for d in "${dind_root_dirs[@]}"; do
        if [ -L "/$d" ]; then
            layout+="$d -> $(readlink "/$d")"$'\n'
        elif [ -d "/$d" ]; then
            layout+="$d bind"$'\n'
        fi
    done
    h="$({
        printf 'sandcastle dind base %s\n%s' "$dind_recipe_version" "$layout"
        for f in "${dind_etc_files[@]}" ld.so.conf.d; do
            [ -e "/etc/$f" ] || continue
            (cd /etc && find "$f" -type f -print0 | sort -z | xargs -0r sha256sum)
        done
    } | sha256sum | cut -c1-16)"
    local tag="sandcastle/dind-base:$h"
    if docker image inspect "$tag" >/dev/null 2>&1; then
        printf '%s\n' "$tag"
        return
    fi
    say "==> building $tag (offline: an empty root, host /etc files)"
    local root
    root="$(mktemp -d "${TMPDIR:-/tmp}/sandcastle-dind-root.XXXXXX")"
    (
        set -e
        umask 022
        cd "$root"
        mkdir -p etc proc sys dev run tmp root usr opt/swift var/lib/docker var/tmp
        chmod 1777 tmp var/tmp
        chmod 0700 root
        for d in "${dind_root_dirs[@]}"; do
            if [ -L "/$d" ]; then ln -s "$(readlink "/$d")" "$d"; elif [ -d "/$d" ]; then mkdir "$d"; fi
        done
        ln -s ../proc/self/mounts etc/mtab
        for f in "${dind_etc_files[@]}" ld.so.conf.d; do
            [ -e "/etc/$f" ] && cp -a "/etc/$f" etc/
        done
        tar --numeric-owner -c . | docker import \
            --change "LABEL $dind_label.base=$dind_recipe_version" - "$tag" >/dev/null
    ) || {
        rm -rf "$root"
        die "building the Docker-in-Docker base image $tag failed"
    }
    rm -rf "$root"
    printf '%s\n' "$tag"
}

# dind_container_args NAME SOCKDIR KEEP IMAGE: fills the array dind_args.
dind_container_args() {
    local name="$1" sockdir="$2" keep="$3" image="$4" d c
    # shellcheck disable=SC2054  # the commas are mount options
    dind_args=(
        run -d --name "$name" --hostname "$name"
        --label "$dind_label=1" --label "$dind_label.keep=$keep" --label "$dind_label.repo=$repo_root"
        --label "$dind_label.recipe=$(dind_recipe)"
        --label "$dind_label.pid=$$" --label "$dind_label.boot=$(cat /proc/sys/kernel/random/boot_id)"
        --network none --cgroupns private
        --cap-add ALL
        --security-opt apparmor=unconfined --security-opt seccomp=unconfined
        --security-opt systempaths=unconfined
        --device-cgroup-rule 'a *:* rwm'
        --tmpfs /run:rw,nosuid,nodev,mode=0755
        -v /var/lib/docker
        -v "$sockdir:/run/dind"
        -v /usr:/usr:ro
        -v "$repo_root:$repo_root"
        -e "DIND_SOCKET=$dind_inner_socket"
        -e "DIND_LOG=/run/dind/dockerd.log"
    )
    while read -r c; do
        [ -n "$c" ] && dind_args+=(--cap-drop "$c")
    done < <(dind_missing_caps)
    for d in "${dind_root_dirs[@]}"; do
        if [ ! -L "/$d" ] && [ -d "/$d" ]; then dind_args+=(-v "/$d:/$d:ro"); fi
    done
    [ -d /opt/swift ] && dind_args+=(-v /opt/swift:/opt/swift:ro)
    local toolchain
    toolchain="$(dind_toolchain)"
    [ -n "$toolchain" ] && dind_args+=(-v "$toolchain:$toolchain:ro")
    for d in "${dind_extra_mounts[@]}"; do
        dind_args+=(-v "$d:$d")
    done
    [ -n "${SANDCASTLE_DIND_DOCKERD_ARGS:-}" ] && dind_args+=(-e "DIND_DOCKERD_ARGS=$SANDCASTLE_DIND_DOCKERD_ARGS")
    dind_args+=(-e "DIND_ROOT_PROPAGATION=${dind_root_propagation:-shared}")
    dind_args+=(--label "$dind_label.propagation=${dind_root_propagation:-shared}")
    dind_args+=("$image" /usr/bin/docker-init -- /bin/bash "$repo_root/scripts/lib/dind-init")
}

# dind_drop_arg CAP: takes `--cap-drop CAP` out of dind_args.
dind_drop_arg() {
    local rest=() i
    for ((i = 0; i < ${#dind_args[@]}; i++)); do
        if [ "${dind_args[$i]}" = --cap-drop ] && [ "${dind_args[$((i + 1))]:-}" = "$1" ]; then
            i=$((i + 1))
            continue
        fi
        rest+=("${dind_args[$i]}")
    done
    dind_args=("${rest[@]}")
}

# dind_wait NAME SOCKDIR TIMEOUT: until the inner engine answers, or the
# container stops (its log and the dockerd log are shown), or TIMEOUT seconds.
dind_wait() {
    local name="$1" sockdir="$2" timeout="$3" t0=$SECONDS running
    until ping_engine "unix://$sockdir/docker.sock"; do
        running="$(docker inspect -f '{{.State.Running}}' "$name" 2>/dev/null || echo false)"
        if [ "$running" != true ] || [ $((SECONDS - t0)) -ge "$timeout" ]; then
            say "---- docker logs $name ----"
            docker logs --tail 40 "$name" >&2 2>&1 || true
            show_log 60 "$sockdir/dockerd.log"
            if [ "$running" != true ]; then
                die "the Docker-in-Docker container $name stopped before its engine answered"
            fi
            die "the engine in $name did not answer within ${timeout}s (SANDCASTLE_DIND_TIMEOUT)"
        fi
        sleep 0.1
    done
}

# dind_start NAME KEEP: a new container NAME with its engine up.
dind_start() {
    local name="$1" keep="$2" base sockdir="$dind_run_dir/$1"
    base="$(dind_base_image)"
    docker rm -f -v "$name" >/dev/null 2>&1 || true
    rm -rf "$sockdir"
    mkdir -p "$sockdir"
    chmod 0700 "$sockdir"
    dind_container_args "$name" "$sockdir" "$keep" "$base"
    local out unknown tries=0
    until out="$(docker "${dind_args[@]}" 2>&1)"; do
        # An engine that does not know a capability (20.10: BPF, PERFMON,
        # CHECKPOINT_RESTORE) refuses to drop it, and never grants it with ALL.
        unknown="$(sed -n 's/.*unknown capability: "\{0,1\}CAP_\([A-Z_]*\).*/\1/p' <<<"$out" | head -n1)"
        if [ -n "$unknown" ] && [ $((tries += 1)) -le 8 ]; then
            dind_drop_arg "$unknown"
            docker rm -f -v "$name" >/dev/null 2>&1 || true
            continue
        fi
        printf '%s\n' "$out" >&2
        die "could not start the Docker-in-Docker container $name (docker ${dind_args[*]})"
    done
    dind_wait "$name" "$sockdir" "${SANDCASTLE_DIND_TIMEOUT:-60}"
    dind_host="unix://$sockdir/docker.sock"
}

# dind_reuse NAME: true (dind_host set) when NAME is a running kept container
# of this recipe and repository whose engine answers.
dind_reuse() {
    local name="$1" sockdir="$dind_run_dir/$1" fmt info base
    fmt="{{.State.Running}}|{{.Config.Image}}|{{index .Config.Labels \"$dind_label.repo\"}}"
    fmt+="|{{index .Config.Labels \"$dind_label.recipe\"}}|{{index .Config.Labels \"$dind_label.propagation\"}}"
    info="$(docker inspect -f "$fmt" "$name" 2>/dev/null)" || return 1
    base="$(dind_base_image)"
    if [ "$info" != "true|$base|$repo_root|$(dind_recipe)|${dind_root_propagation:-shared}" ]; then
        say "==> not reusing $name (stopped, or another recipe, repository or propagation: $info)"
        return 1
    fi
    ping_engine "unix://$sockdir/docker.sock" || return 1
    dind_host="unix://$sockdir/docker.sock"
}

# dind_load_images IMAGE...: docker save | docker load, for each image the
# inner engine does not have with the same id.
dind_load_images() {
    local img outer inner
    for img in "$@"; do
        outer="$(docker image inspect -f '{{.Id}}' "$img" 2>/dev/null)" ||
            die "image $img is not in the outer engine (${DOCKER_HOST:-default}); build it first (scripts/test builds the test image)"
        inner="$(DOCKER_HOST="$dind_host" docker image inspect -f '{{.Id}}' "$img" 2>/dev/null || true)"
        [ "$inner" = "$outer" ] && continue
        docker save "$img" | DOCKER_HOST="$dind_host" docker load -q >/dev/null ||
            die "loading $img into the Docker-in-Docker engine failed"
    done
}

# dind_keep_log NAME: copies the inner dockerd's log out of the socket
# directory (removed with the container) and says where it is.
dind_keep_log() {
    local log="$dind_run_dir/$1/dockerd.log" kept="${TMPDIR:-/tmp}/$1-dockerd.log"
    [ -f "$log" ] || return 0
    cp -f "$log" "$kept" 2>/dev/null && say "==> the inner dockerd's log: $kept"
}

# dind_remove NAME: the container (with its engine, containers and volume) and
# its socket directory.
dind_remove() {
    docker rm -f -v "$1" >/dev/null 2>&1 || true
    rm -rf "${dind_run_dir:?}/$1"
}

# dind_is_running_script PID: PID is a live scripts/dind.
dind_is_running_script() {
    alive "$1" || return 1
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q 'scripts/dind '
}

# dind_reap_stale: containers of runs without --keep whose scripts/dind is
# gone (killed with SIGKILL, or from an earlier boot).
dind_reap_stale() {
    local boot name pid cboot
    boot="$(cat /proc/sys/kernel/random/boot_id)"
    docker ps -a --filter "label=$dind_label=1" --filter "label=$dind_label.keep=0" \
        --format "{{.Names}} {{.Label \"$dind_label.pid\"}} {{.Label \"$dind_label.boot\"}}" 2>/dev/null |
        while read -r name pid cboot; do
            if [ "$cboot" != "$boot" ] || ! dind_is_running_script "$pid"; then
                say "==> removing $name, left by scripts/dind pid $pid"
                dind_remove "$name"
            fi
        done
    # socket directories whose container is gone (not a fresh one: its container may be starting)
    local dir
    for dir in "$dind_run_dir"/*/; do
        [ -d "$dir" ] || continue
        name="$(basename "$dir")"
        if [ -n "$(find "$dir" -maxdepth 0 -mmin +10)" ] && ! docker inspect "$name" >/dev/null 2>&1; then
            rm -rf "${dir:?}"
        fi
    done
}
