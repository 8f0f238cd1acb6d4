#!/usr/bin/env bash
# issue 29: peak RSS of one engine workload per process, the untouched tree and this branch.
# Trees as in engine_overhead_both_trees.sh; MODEL: the behaviour snapshot's export.
# Run as: cpu quiet benchmarks/issue29/rss_both_trees.sh
set -e
. /work/wt/i29/.venv/bin/activate
probe=/work/wt/i29/benchmarks/issue29/rss_probe.py
MODEL=${MODEL:-/tmp/i29/work/small.onnx}
for round in 1 2; do
  for tree in before after; do
    for case in null onnx; do
      echo "== $tree $case"
      ( cd /tmp && PYTHONPATH=/tmp/i29/$tree /usr/bin/time -v python $probe $case $MODEL 2>&1 \
        | grep -E "mutants in|Maximum resident" )
    done
  done
done
