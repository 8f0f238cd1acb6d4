#!/bin/bash
# The rows of benchmarks/RESULTS.md (issue 23), as they were run from the repository root.
# WORK (default /tmp/i23) holds the small exports (benchmarks/bench_incremental.py --config small
# writes one) and the JSON rows.
B=benchmarks/bench_incremental.py
NEW=${PYTHON:-python}
row() { echo "=== $1"; /usr/bin/time -v $NEW $B --config small --model $2 --paths $3 --batch-size $4 --loci 2 --tiles 38 --shuffles 1 --json ${WORK:-/tmp/i23}/rows/$1.json 2>&1 | grep -E "^(full|incremental|small)|Maximum resident|Elapsed"; }
echo "=== int8 export + gate"; /usr/bin/time -v $NEW benchmarks/issue23/int8_gate.py ${WORK:-/tmp/i23}/small2/enformer_small.onnx ${WORK:-/tmp/i23}/int8/enformer_small.onnx 2>&1 | grep -E "^gate|Maximum resident|Elapsed|Error|error"
row int8_inc_b8 ${WORK:-/tmp/i23}/int8/enformer_small.onnx incremental 8
row fp32_inc_b8_again ${WORK:-/tmp/i23}/small2/enformer_small.onnx incremental 8
echo "=== cremenn_loop"; /usr/bin/time -v $NEW benchmarks/issue23/cremenn_loop.py 2>&1 | grep -E "loop|Maximum resident"
echo "=== autocast"; $NEW benchmarks/issue23/autocast_probe.py 2>&1 | grep -v Warn
