#!/usr/bin/env python3
"""Counts meson test results from build directories' testlog.json.
  test_summary.py DIR            one line for a suite: "N passed, N failed"
  test_summary.py --final DIR..  the closing line over all suites, exit status 1 on any failure"""
import json
import pathlib
import sys

PASS = {"OK", "EXPECTEDFAIL"}
SKIP = {"SKIP"}


def count(dirs):
    passed = failed = skipped = 0
    for d in dirs:
        log = pathlib.Path(d) / "meson-logs" / "testlog.json"
        if not log.exists():
            failed += 1  # the suite did not run at all
            continue
        for line in log.read_text().splitlines():
            if not line.strip():
                continue
            result = json.loads(line)["result"]
            if result in PASS:
                passed += 1
            elif result in SKIP:
                skipped += 1
            else:
                failed += 1
    return passed, failed, skipped


def line(passed, failed, skipped):
    return f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else "")


final = sys.argv[1] == "--final"
dirs = sys.argv[2:] if final else sys.argv[1:]
p, f, s = count(dirs)
print(line(p, f, s))
if final:
    sys.exit(1 if f or p == 0 else 0)
