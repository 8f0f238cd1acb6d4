#!/usr/bin/env bash
# issue 29: engine overhead per mutant, the untouched tree (6eadb22) and this branch, interleaved
# /tmp/i29/before: git archive 6eadb22 (the untouched tree); /tmp/i29/after: git archive 6c0c52c
# (this branch before the merges of main); the built _native .so copied into both (csrc unchanged).
# Run as: cpu quiet /usr/bin/time -v benchmarks/issue29/engine_overhead_both_trees.sh
set -e
. /work/wt/i29/.venv/bin/activate
out=${OUT:-/tmp/i29/bench}; mkdir -p $out
for round in 1 2 3 4 5; do
  ( cd /tmp/i29/before && PYTHONPATH=/tmp/i29/before python benchmarks/bench_engine.py --skip-enformer --json $out/before_$round.json )
  ( cd /tmp/i29/after && PYTHONPATH=/tmp/i29/after python benchmarks/bench_engine.py --skip-enformer --json $out/after_$round.json )
done
