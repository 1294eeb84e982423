#!/usr/bin/env python3
"""Fails when a C++ source under include/ src/ tests/ bench/ examples/ differs from what .clang-format says.
Fix with `tools/aos.sh format`."""
import pathlib
import subprocess
import sys

root = pathlib.Path(sys.argv[1])
clang_format = sys.argv[2]
files = sorted(str(p) for d in ("include", "src", "tests", "bench", "examples") for ext in ("*.cpp", "*.hpp")
               for p in (root / d).rglob(ext) if "subprojects" not in p.parts and "build" not in p.parts)
r = subprocess.run([clang_format, "--dry-run", "-Werror", *files], capture_output=True, text=True)
print(r.stderr[-6000:], end="")
print(f"{len(files)} files checked")
sys.exit(r.returncode)
