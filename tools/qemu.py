#!/usr/bin/env python3
"""Boots the aos image in qemu-system-aarch64 -M virt: interactively, headless, under gdb, or as a system
test that checks what the image prints and how it exits. One place builds the QEMU command line for all.

  qemu.py run  --image build/aarch64/src/kernel/aos.bin [--smp N] [--mem SIZE] [--headless] [--debug]
  qemu.py test --image ... --name NAME [--append ARGS] --expect REGEX ... --exit-status N [--timeout S]
"""
import argparse
import os
import re
import subprocess
import sys
import threading
import time

QEMU = os.environ.get("AOS_QEMU", "qemu-system-aarch64")
# How much of the console to show when a test fails.
TAIL_LINES = 60


def qemu_command(a, interactive):
    machine = "virt"
    if a.gic:
        machine += f",gic-version={a.gic}"
    if a.el2:
        machine += ",virtualization=on"
    append = a.append
    # No network card: the image has no driver for one, and virt's default NIC needs an option ROM that a
    # minimal QEMU install (no ipxe-qemu) lacks.
    cmd = [QEMU, "-M", machine, "-cpu", a.cpu, "-smp", str(a.smp), "-m", a.mem, "-kernel", a.image, "-no-reboot",
           "-nic", "none"]
    if not a.no_semihosting:
        # The kernel ends the run with semihosting SYS_EXIT, so QEMU's exit code is the image's status.
        cmd += ["-semihosting-config", "enable=on,target=native"]
        append = (append + " semihosting").strip()
    cmd += ["-append", append]
    if a.icount:
        cmd += ["-icount", "shift=0"]
    if interactive:
        cmd += ["-nographic"]  # serial and monitor multiplexed on stdio: Ctrl-A X quits, Ctrl-A C monitor
    else:
        cmd += ["-display", "none", "-serial", "stdio", "-monitor", "none"]
    if a.debug:
        cmd += ["-S", "-gdb", f"tcp::{a.gdb_port}"]
    return cmd


def add_common(p):
    p.add_argument("--image", required=True)
    p.add_argument("--elf", help="the ELF with symbols, for the gdb hint")
    p.add_argument("--smp", type=int, default=2)
    p.add_argument("--mem", default="512M")
    p.add_argument("--cpu", default="cortex-a72")
    p.add_argument("--icount", action="store_true",
                   help="one instruction per virtual nanosecond: the PMU's instruction counter counts")
    p.add_argument("--gic", choices=["2", "3"], help="GIC version (QEMU's default is 2)")
    p.add_argument("--el2", action="store_true", help="start the kernel at EL2 (virtualization=on)")
    p.add_argument("--append", default="", help="kernel command line")
    p.add_argument("--no-semihosting", action="store_true", help="end runs with PSCI SYSTEM_OFF only")
    p.add_argument("--debug", action="store_true")
    p.add_argument("--gdb-port", type=int, default=1234)


def cmd_run(a):
    cmd = qemu_command(a, interactive=not a.headless)
    if a.debug:
        elf = a.elf or a.image
        print(f"QEMU waits for gdb on port {a.gdb_port}. In another terminal:\n"
              f"  gdb-multiarch {elf} -ex 'target remote :{a.gdb_port}'", flush=True)
    if not a.headless:
        print("aos: Ctrl-A X quits QEMU", flush=True)
        os.execvp(cmd[0], cmd)
    return subprocess.run(cmd, stdin=subprocess.DEVNULL).returncode


def run_typing_later(cmd, a):
    """Runs QEMU and types --input only once the console has printed a line matching --input-after (so the
    program is already waiting for it). Returns the output, the exit code (None on timeout) and whether it
    timed out."""
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = bytearray()
    typed = False
    deadline = time.monotonic() + a.timeout
    pattern = re.compile(a.input_after, re.MULTILINE)

    def reader():
        while True:
            chunk = proc.stdout.read1(4096)
            if not chunk:
                return
            out.extend(chunk)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    while proc.poll() is None and time.monotonic() < deadline:
        if not typed and pattern.search(out.decode("utf-8", "replace")):
            proc.stdin.write((a.input or "").encode())
            proc.stdin.flush()
            typed = True
        time.sleep(0.02)
    timed_out = proc.poll() is None
    if timed_out:
        proc.kill()
    proc.wait()
    t.join(timeout=5)
    return bytes(out), (None if timed_out else proc.returncode), timed_out


def cmd_test(a):
    cmd = qemu_command(a, interactive=False)
    start = time.monotonic()
    timed_out = False
    if a.input_after is not None:
        out, rc, timed_out = run_typing_later(cmd, a)
    else:
        try:
            proc = subprocess.run(cmd, input=a.input.encode() if a.input is not None else b"",
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=a.timeout)
            out, rc = proc.stdout, proc.returncode
        except subprocess.TimeoutExpired as e:
            out, rc, timed_out = e.stdout or b"", None, True
    text = out.decode("utf-8", "replace").replace("\r\n", "\n")
    elapsed = time.monotonic() - start

    failures = []
    if timed_out:
        failures.append(f"timed out after {a.timeout} s (hung boot?)")
    for pattern in a.expect:
        if not re.search(pattern, text, re.MULTILINE):
            failures.append(f"expected output not found: /{pattern}/")
    for pattern in a.reject:
        m = re.search(pattern, text, re.MULTILINE)
        if m:
            failures.append(f"forbidden output found: /{pattern}/ matched {m.group(0)!r}")
    if not timed_out:
        if rc != a.exit_status:
            failures.append(f"QEMU exited with {rc}, expected {a.exit_status}")
        printed = re.findall(r"^aos: shutdown, status (\d+)$", text, re.MULTILINE)
        if not printed:
            failures.append("the image did not print its shutdown status")
        elif not a.no_semihosting and int(printed[-1]) != rc:
            failures.append(f"the image printed status {printed[-1]} but QEMU exited with {rc}")

    print(f"== {a.name}: {' '.join(cmd)}")
    if failures:
        tail = text.splitlines()[-TAIL_LINES:]
        print(f"== console (last {len(tail)} lines)")
        print("\n".join(tail))
        for f in failures:
            print(f"FAIL {a.name}: {f}")
        return 1
    print(text)
    print(f"PASS {a.name} in {elapsed:.2f} s")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    add_common(r)
    r.add_argument("--headless", action="store_true")
    r.set_defaults(append="run=init spawn=hello,args+hello+from+init")
    t = sub.add_parser("test")
    add_common(t)
    t.add_argument("--name", required=True)
    t.add_argument("--expect", action="append", default=[], help="regex the console must match")
    t.add_argument("--reject", action="append", default=[], help="regex the console must not match")
    t.add_argument("--exit-status", type=int, default=0)
    t.add_argument("--timeout", type=float, default=60)
    t.add_argument("--input", help="text typed on the serial console")
    t.add_argument("--input-after", help="type --input only once the console matches this regex")
    a = ap.parse_args()
    return cmd_run(a) if a.command == "run" else cmd_test(a)


if __name__ == "__main__":
    sys.exit(main())
