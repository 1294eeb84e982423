#!/usr/bin/env bash
# The aos driver: installs what the build needs, configures and builds, boots the image, runs every suite,
# runs the benchmarks. `tools/aos.sh help` lists the commands.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${AOS_BUILD_DIR:-$ROOT/build}
HOST_DIR=$BUILD/host       # native: unit tests (ASan+UBSan), hosted header check, consumer example
CROSS_DIR=$BUILD/aarch64   # cross: kernel image, freestanding header check, QEMU system tests, link check
BENCH_DIR=$BUILD/bench     # native, optimized: benchmarks
TSAN_DIR=$BUILD/tsan       # native, ThreadSanitizer: the unit tests tagged [tsan] (threads sharing memory)

# Debian bookworm packages the build needs (and nothing downloaded at build time).
PACKAGES=(clang-19 lld-19 llvm-19 libclang-rt-19-dev clang-format-19 clang-tidy-19 meson ninja-build python3 git qemu-system-arm catch2
          libstdc++-12-dev-arm64-cross libc6-dev-arm64-cross libbenchmark-dev libboost-dev)

usage() {
    cat <<'USAGE'
usage: tools/aos.sh COMMAND [options]

  run [--smp N] [--mem SIZE] [--headless] [--debug] [--gic 2|3] [--append ARGS]
          build and boot the reference image in QEMU on the serial console (Ctrl-A X quits).
          --headless boots, prints, powers off and exits with the image's status;
          --debug makes QEMU wait for gdb and prints the gdb command line;
          --append sets the kernel command line (default "run=init spawn=hello,args+hello+from+init": the kernel
          starts init, which spawns the programs named by spawn=).
  test    build and run every suite: hosted unit tests (ASan+UBSan), the threaded ones again under
          ThreadSanitizer, header checks, the consumer example, the kernel link check and the QEMU
          system tests. Ends with "N passed, N failed".
  bench   build with optimization and run every benchmark under bench/ (RATIO lines).
  deps    install the Debian packages the build needs (as root), or print the apt-get line.
  build   configure and build both build directories without running anything.
  format  reformat the sources with clang-format-19 (installs it if missing).
USAGE
}

log() { printf 'aos: %s\n' "$*" >&2; }

missing_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    echo "${missing[@]:-}"
}

ensure_packages() {
    local missing
    missing=$(missing_packages "$@")
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "missing Debian packages; as root run:"
        echo "apt-get update && apt-get install -y $missing"
        exit 1
    fi
    log "installing: $missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Runs a command quietly; on failure shows the tail of what it printed.
quietly() {
    local out
    out=$(mktemp)
    if ! "$@" >"$out" 2>&1; then
        tail -40 "$out"
        rm -f "$out"
        log "failed: $*"
        exit 1
    fi
    rm -f "$out"
}

configure_cross() {
    [ -f "$CROSS_DIR/build.ninja" ] && return 0
    quietly meson setup "$CROSS_DIR" "$ROOT" --cross-file "$ROOT/tools/cross/aarch64-freestanding.ini" \
        --buildtype=debugoptimized
}

configure_host() {
    [ -f "$HOST_DIR/build.ninja" ] && return 0
    quietly meson setup "$HOST_DIR" "$ROOT" --native-file "$ROOT/tools/cross/host-clang.ini" --buildtype=debug \
        -Db_sanitize=address,undefined -Db_lundef=false
}

configure_tsan() {
    [ -f "$TSAN_DIR/build.ninja" ] && return 0
    meson setup "$TSAN_DIR" "$ROOT" --native-file "$ROOT/tools/cross/host-clang.ini" --buildtype=debugoptimized \
        -Db_sanitize=thread -Db_lundef=false >/dev/null
}

configure_bench() {
    [ -f "$BENCH_DIR/build.ninja" ] && return 0
    quietly meson setup "$BENCH_DIR" "$ROOT" --native-file "$ROOT/tools/cross/host-clang.ini" --buildtype=release \
        -Db_ndebug=true
}

# Builds quietly; on failure shows the compiler's output.
build_dir() {
    local dir=$1
    if ! ninja -C "$dir" >"$dir/build-output.txt" 2>&1; then
        grep -v '^\[[0-9]*/[0-9]*\] ' "$dir/build-output.txt" | tail -60
        log "build failed in $dir (full output: $dir/build-output.txt)"
        exit 1
    fi
}
build_cross() { configure_cross && build_dir "$CROSS_DIR"; }
build_host() { configure_host && build_dir "$HOST_DIR"; }
build_tsan() { configure_tsan && build_dir "$TSAN_DIR"; }

cmd_run() {
    local args=()
    while [ $# -gt 0 ]; do
        case "$1" in
            --smp|--mem|--gic|--append) args+=("$1" "$2"); shift 2 ;;
            --headless|--debug) args+=("$1"); shift ;;
            -h|--help) usage; exit 0 ;;
            *) log "run: unknown option $1"; usage; exit 2 ;;
        esac
    done
    ensure_packages "${PACKAGES[@]}"
    build_cross
    exec python3 "$ROOT/tools/qemu.py" run --image "$CROSS_DIR/src/kernel/aos.bin" \
        --elf "$CROSS_DIR/src/kernel/aos.elf" "${args[@]}"
}

# Runs one build directory's suites; prints the time taken and leaves the counts in testlog.json.
run_suite() {
    local name=$1 dir=$2 start rc=0
    start=$(date +%s)
    log "suite $name: running"
    meson test -C "$dir" --print-errorlogs --num-processes "$(nproc)" >"$dir/suite-output.txt" 2>&1 || rc=$?
    if [ $rc -eq 0 ]; then
        grep -E '^ *[0-9]+/[0-9]+ ' "$dir/suite-output.txt" || true
    else
        # Everything, with the failing tests' own output (console tails, Catch2 reports) inline.
        cat "$dir/suite-output.txt"
    fi
    log "suite $name: $(python3 "$ROOT/tools/test_summary.py" "$dir") in $(( $(date +%s) - start )) s"
}

cmd_test() {
    local start
    start=$(date +%s)
    ensure_packages "${PACKAGES[@]}"
    log "building (host with sanitizers, host with ThreadSanitizer, and the aarch64 image)"
    build_host
    build_tsan
    build_cross
    log "built in $(( $(date +%s) - start )) s"
    run_suite host "$HOST_DIR"
    run_suite tsan "$TSAN_DIR"
    run_suite aarch64 "$CROSS_DIR"
    log "all suites in $(( $(date +%s) - start )) s"
    python3 "$ROOT/tools/test_summary.py" --final "$HOST_DIR" "$TSAN_DIR" "$CROSS_DIR"
}

cmd_bench() {
    ensure_packages "${PACKAGES[@]}"
    configure_bench
    build_dir "$BENCH_DIR"
    local b found=0
    for b in "$BENCH_DIR"/bench/*_bench; do
        [ -x "$b" ] || continue
        found=1
        log "benchmark $(basename "$b")"
        "$b"
    done
    [ $found -eq 1 ] || { log "no benchmarks built"; exit 1; }
}

cmd_format() {
    ensure_packages clang-format-19
    git -C "$ROOT" ls-files '*.cpp' '*.hpp' | (cd "$ROOT" && xargs clang-format-19 -i)
}

main() {
    local cmd=${1:-help}
    shift || true
    case "$cmd" in
        run) cmd_run "$@" ;;
        test) cmd_test "$@" ;;
        bench) cmd_bench "$@" ;;
        deps) ensure_packages "${PACKAGES[@]}" ;;
        build) ensure_packages "${PACKAGES[@]}"; build_host; build_tsan; build_cross ;;
        format) cmd_format ;;
        help|-h|--help) usage ;;
        *) log "unknown command $cmd"; usage; exit 2 ;;
    esac
}

main "$@"
