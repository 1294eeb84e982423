#!/usr/bin/env python3
"""Fails when include/aos holds a header that include/aos/meson.build does not list, or the reverse."""
import pathlib
import sys

root = pathlib.Path(sys.argv[1])
listed = set(sys.argv[2:])
on_disk = {str(p.relative_to(root)) for p in root.rglob("*.hpp")}
missing = sorted(on_disk - listed)
stale = sorted(listed - on_disk)
for h in missing:
    print(f"not listed in include/aos/meson.build: {h}")
for h in stale:
    print(f"listed but not on disk: {h}")
print(f"{len(on_disk)} headers on disk, {len(listed)} listed")
sys.exit(1 if missing or stale else 0)
