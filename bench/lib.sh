# shellcheck shell=bash
# bench/lib.sh — shell helpers shared by bench/run, bench/fanout, bench/proxy,
# bench/vod and bench/soak (sourced, not run). Linux only: reads /proc.
#
# The sourcing script sets `bench_name` (for log lines) before sourcing, and
# `root` is set here to the repository root. Nothing here starts a process that
# outlives the script: `bench_track PID` registers a child, and the EXIT trap set
# by `bench_traps` stops every registered child (and its descendants) and removes
# `$bench_tmp`.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bench_name=${bench_name:-bench}
target_dir=${CARGO_TARGET_DIR:-$root/target}
brume=${BRUME_BIN:-$target_dir/release/brume}
loadgen=${LOADGEN_BIN:-$target_dir/release/brume-loadgen}
cache=${BENCH_CACHE:-$root/bench/.cache}
clk_tck=$(getconf CLK_TCK)
export clk_tck # read by the sourcing scripts

log() { printf '%s: %s\n' "$bench_name" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}
is_pos() { [[ $1 =~ ^[1-9][0-9]*$ ]]; }
is_int() { [[ $1 =~ ^[0-9]+$ ]]; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
now_s() { date +%s.%N; }
# The value of a top-level number/string/null in a one-line JSON file.
jget() { { grep -o "\"$1\":[^,}]*" "$2" || true; } | head -n 1 | cut -d: -f2- | tr -d '"'; }
median() { # numbers... -> their median ("-" when none)
    printf '%s\n' "$@" | grep -E '^-?[0-9.]+([eE][-+]?[0-9]+)?$' | sort -g | awk '{ a[NR] = $1 } END {
        if (NR == 0) print "-"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2
    }'
}

# ---------------------------------------------------------------- /proc
cpu_ticks() { # pid -> utime + stime in clock ticks (0 once gone)
    local stat
    { stat=$(<"/proc/$1/stat"); } 2>/dev/null || {
        echo 0
        return
    }
    stat=${stat##*) }
    # shellcheck disable=SC2086 # split the fields on purpose
    set -- $stat
    echo $((${12} + ${13}))
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
fd_count() { # pid -> open file descriptors
    local fds=("/proc/$1/fd/"*)
    echo "${#fds[@]}"
}
thread_count() { awk '/^Threads:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
children_of() { # pid -> the pids whose parent it is
    local parent=$1 f stat ppid
    for f in /proc/[0-9]*/stat; do
        { read -r stat <"$f"; } 2>/dev/null || continue
        stat=${stat##*) }
        read -r _ ppid _ <<<"$stat"
        if [[ $ppid == "$parent" ]]; then
            f=${f#/proc/}
            echo "${f%/stat}"
        fi
    done
}
descendants() { # pid -> every descendant pid
    local c
    for c in $(children_of "$1"); do
        echo "$c"
        descendants "$c"
    done
}

# ---------------------------------------------------------------- processes
bench_pids=()
bench_track() { bench_pids+=("$1"); }
stop_pid() { # pid: TERM it and its descendants, wait up to 5 s, then KILL
    local pid=$1 kids i
    kill -0 "$pid" 2>/dev/null || return 0
    kids=$(descendants "$pid")
    # shellcheck disable=SC2086 # a list of pids
    kill -TERM "$pid" $kids 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    # shellcheck disable=SC2086 # a list of pids
    kill -KILL "$pid" $kids 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
stop_script() { # pid [grace-seconds]: TERM it alone (it stops its own children), wait, then KILL all
    local pid=$1 grace=${2:-30} kids i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kids=$(descendants "$pid")
    # shellcheck disable=SC2086 # a list of pids
    kill -KILL "$pid" $kids 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
bench_scripts=()
bench_track_script() { bench_scripts+=("$1"); }
bench_cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    for ((i = ${#bench_scripts[@]} - 1; i >= 0; i--)); do stop_script "${bench_scripts[i]}"; done
    for ((i = ${#bench_pids[@]} - 1; i >= 0; i--)); do stop_pid "${bench_pids[i]}"; done
    if ((rc != 0)) && [[ -n ${bench_tmp:-} ]]; then
        local f
        for f in "$bench_tmp"/*.log "$bench_tmp"/*.out; do
            [[ -s $f ]] || continue
            log "last lines of ${f##*/}:"
            tail -n 15 "$f" >&2
        done
    fi
    if [[ -n ${bench_tmp:-} ]]; then rm -rf "$bench_tmp"; fi
    exit "$rc"
}
bench_traps() { # makes $bench_tmp and arms the cleanup
    bench_tmp=$(mktemp -d "${TMPDIR:-/tmp}/brume-$bench_name.XXXXXX")
    # nginx's workers may run as another user: they must reach files in here.
    chmod 711 "$bench_tmp"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

free_port() { "$loadgen" free-port || die "brume-loadgen free-port failed"; }
raise_fd_limit() { # needed -> raises the soft limit, dies when it stays below
    ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    if [[ $(ulimit -n) != unlimited ]] && (($(ulimit -n) < $1)); then
        die "open-file limit $(ulimit -n) is too low (need $1; raise the hard limit)"
    fi
}
wait_port() { # port seconds [pid] -> success once 127.0.0.1:port accepts
    local n
    for ((n = 0; n < $2 * 20; n++)); do
        if timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; then return 0; fi
        if [[ -n ${3:-} ]] && ! kill -0 "$3" 2>/dev/null; then return 1; fi
        sleep 0.05
    done
    return 1
}
find_nginx() {
    if [[ -n ${NGINX_BIN:-} ]]; then
        echo "$NGINX_BIN"
    elif command -v nginx >/dev/null; then
        command -v nginx
    elif [[ -x /usr/sbin/nginx ]]; then
        echo /usr/sbin/nginx
    fi
}
need_tools() { # tool... -> installs the missing ones with apt-get when root, else dies
    local t missing=()
    for t in "$@"; do
        if [[ $t == nginx ]]; then
            [[ -n $(find_nginx) ]] || missing+=(nginx)
        elif ! command -v "$t" >/dev/null; then
            missing+=("$t")
        fi
    done
    ((${#missing[@]} == 0)) && return 0
    if [[ -z ${BENCH_NO_INSTALL:-} ]] && [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        log "installing ${missing[*]} (apt-get)"
        timeout 900 apt-get install -y "${missing[@]}" >&2 ||
            { timeout 300 apt-get update >&2 && timeout 900 apt-get install -y "${missing[@]}" >&2; } ||
            die "apt-get could not install ${missing[*]}"
    else
        die "missing tools: ${missing[*]}"
    fi
}
build_release() { # unless BENCH_NO_BUILD is set
    if [[ -z ${BENCH_NO_BUILD:-} ]]; then
        log "building (release)"
        timeout 1800 cargo build --release -p brume -p brume-bench >&2
    fi
    [[ -x $brume ]] || die "no brume binary at $brume"
    [[ -x $loadgen ]] || die "no brume-loadgen binary at $loadgen"
}

# ---------------------------------------------------------------- media
# The 60 s 1280x720 30 fps ~3 Mbit/s H.264+AAC clip with a keyframe every 2 s that
# the segment, fan-out and soak benchmarks loop as a live stream. Made once.
clip_720p() {
    local clip=$cache/segments-720p30-3M-60s.mp4
    if [[ ! -s $clip ]]; then
        need_tools ffmpeg
        mkdir -p "$cache"
        log "making the 60 s 1280x720 30 fps 3 Mbit/s test clip (once, kept as ${clip#"$root"/})"
        timeout 900 ffmpeg -hide_banner -loglevel error -nostdin -y \
            -f lavfi -i testsrc2=size=1280x720:rate=30 \
            -f lavfi -i sine=frequency=440:sample_rate=48000 \
            -t 60 -map 0:v -map 1:a \
            -c:v libx264 -preset veryfast -pix_fmt yuv420p \
            -b:v 3M -maxrate 3M -bufsize 6M -g 60 -keyint_min 60 -sc_threshold 0 \
            -c:a aac -b:a 128k -movflags +faststart -f mp4 "$clip.part" >&2 ||
            die "ffmpeg could not make the clip"
        mv "$clip.part" "$clip"
    fi
    echo "$clip"
}

# ---------------------------------------------------------------- reports
machine_line() {
    local cpu_model mem
    cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    echo "$(nproc) CPUs ($cpu_model), $mem, Linux $(uname -r)"
}
revision() { git -C "$root" describe --always --dirty 2>/dev/null || echo unknown; }
