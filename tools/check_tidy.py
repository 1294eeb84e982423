#!/usr/bin/env python3
"""Runs clang-tidy (the checks in .clang-tidy) over the translation units given, two at a time, with the
build directory's compile_commands.json; fails on any diagnostic.
  check_tidy.py clang-tidy-19 BUILD_DIR file.cpp ..."""
import concurrent.futures
import subprocess
import sys

tidy, build_dir, files = sys.argv[1], sys.argv[2], sys.argv[3:]


def run(f):
    r = subprocess.run([tidy, "-p", build_dir, "--quiet", f], capture_output=True, text=True)
    return f, r.returncode, r.stdout


failed = 0
with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
    for f, rc, out in pool.map(run, files):
        if rc != 0 or "warning:" in out or "error:" in out:
            failed += 1
            print(out)
print(f"{len(files)} translation units checked, {failed} with findings")
sys.exit(1 if failed else 0)
