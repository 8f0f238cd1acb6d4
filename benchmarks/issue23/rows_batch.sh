#!/bin/bash
# The rows of benchmarks/RESULTS.md (issue 23), as they were run from the repository root.
# WORK (default /tmp/i23) holds the small exports (benchmarks/bench_incremental.py --config small
# writes one) and the JSON rows.
B=benchmarks/bench_incremental.py
row() { # label python model paths batch
  echo "=== $1"; /usr/bin/time -v $2 $B --config small --model $3 --paths $4 --batch-size $5 --loci 2 --tiles 38 --shuffles 1 --json ${WORK:-/tmp/i23}/rows/$1.json 2>&1 | grep -E "^(full|incremental|small)|Maximum resident|Elapsed"
}
mkdir -p ${WORK:-/tmp/i23}/rows
# MAIN: a checkout of the code before issue 23, NEW: this one
MAIN=${MAIN_PYTHON:?set MAIN_PYTHON to the python of the tree before issue 23}; NEW=${PYTHON:-python}
OLD=${WORK:-/tmp/i23}/small/enformer_small.onnx; NM=${WORK:-/tmp/i23}/small2/enformer_small.onnx
row main_inc_b8 $MAIN $OLD incremental 8
row main_inc_b1 $MAIN $OLD incremental 1
row new_inc_b8 $NEW $NM incremental 8
row new_inc_b1 $NEW $NM incremental 1
row new_full_b8 $NEW $NM full 8
row main_full_b8 $MAIN $OLD full 8
