#!/usr/bin/env python3
"""Builds examples/consumer as a separate meson project with aos as its subproject (a symlink in a scratch
copy), runs it, and checks that aos built only the library there: no tests, image or benchmarks."""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

src = pathlib.Path(sys.argv[1]).resolve()
native_file = src / "tools/cross/host-clang.ini"
with tempfile.TemporaryDirectory(prefix="aos-consumer-") as tmp:
    proj = pathlib.Path(tmp) / "consumer"
    shutil.copytree(src / "examples/consumer", proj, ignore=shutil.ignore_patterns("build", "subprojects"))
    (proj / "subprojects").mkdir()
    os.symlink(src, proj / "subprojects/aos")
    build = proj / "build"
    for cmd in (["meson", "setup", "--native-file", str(native_file), str(build), str(proj)],
                ["meson", "compile", "-C", str(build)]):
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout[-4000:], r.stderr[-4000:])
            print("FAIL:", " ".join(cmd))
            sys.exit(1)
    run = subprocess.run([str(build / "consumer")], capture_output=True, text=True)
    print(run.stdout, end="")
    if run.returncode != 0 or "consumer: 3 ranges, largest 0x4000, invariants true" not in run.stdout:
        print(f"FAIL: consumer exited {run.returncode}")
        sys.exit(1)
    built_tests = [p for p in (build / "subprojects").rglob("*_test")]
    if built_tests or list((build / "subprojects").rglob("aos.bin")):
        print("FAIL: aos built its own tests or image as a subproject:", built_tests[:3])
        sys.exit(1)
print("PASS consumer")
