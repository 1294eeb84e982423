#!/usr/bin/env python3
"""Links static archives into one relocatable object and fails if it needs any symbol not on the allowed
list. The kernel uses it before linking its runtime: Debian's cross libstdc++ headers are built hosted, so a
stray array::at or optional::value() would quietly pull in glibc symbols."""
import argparse
import re
import subprocess
import sys
import tempfile

ap = argparse.ArgumentParser()
ap.add_argument("--ld", required=True)
ap.add_argument("--nm", required=True)
ap.add_argument("--allow", action="append", default=[])
ap.add_argument("--linker-script", help="symbols this script defines are allowed")
ap.add_argument("archives", nargs="+")
a = ap.parse_args()

with tempfile.NamedTemporaryFile(suffix=".o") as out:
    subprocess.run([a.ld, "-r", "--whole-archive", *a.archives, "-o", out.name], check=True)
    nm = subprocess.run([a.nm, "-u", "--just-symbol-name", out.name], check=True, capture_output=True, text=True)
undefined = sorted(set(nm.stdout.split()))
allowed = set(a.allow)
if a.linker_script:
    with open(a.linker_script) as f:
        allowed |= set(re.findall(r"^\s*(\w+)\s*=", f.read(), re.MULTILINE))
extra = [s for s in undefined if s not in allowed]
print("undefined symbols:", " ".join(undefined) or "(none)")
if extra:
    print("not allowed:", " ".join(extra))
    sys.exit(1)
