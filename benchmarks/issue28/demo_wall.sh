#!/usr/bin/env bash
# Issue 28: the README's demo command, timed as a user runs it, plus bench_demo.py
# (the demo in-process and the synthetic model's per-sequence cost) in the same run.
#   cpu quiet bash benchmarks/issue28/demo_wall.sh OUT_DIR
set -euo pipefail
out=${1:?usage: demo_wall.sh OUT_DIR}
mkdir -p "$out"
grep -m1 "model name" /proc/cpuinfo
grep -m1 "^flags" /proc/cpuinfo | tr ' ' '\n' | grep -E "^(avx|avx2|avx512f|fma|sse4_2)$" | tr '\n' ' '; echo
nproc
rm -rf "$out/demo-out"
/usr/bin/time -v creme-fast demo --out "$out/demo-out" > "$out/demo.stdout" 2> "$out/demo.stderr" || true
grep -E "Elapsed|User time|System time|Maximum resident|Exit status" "$out/demo.stderr"
grep -E "record|checks" "$out/demo.stderr" | tail -2
python benchmarks/bench_demo.py 2>&1 | tail -3
