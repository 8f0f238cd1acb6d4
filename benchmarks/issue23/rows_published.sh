#!/bin/bash
# The published-architecture rows of benchmarks/RESULTS.md (issue 23), one process per row,
# run from the repository root on an otherwise idle machine.
# CK: a random-weights checkpoint (python benchmarks/make_checkpoint.py $CK)
# FP32: its export (creme-fast export --checkpoint $CK --out $FP32 --tracks 4824,5110,5111
#       --bins 447,448 --input tokens); WORK: scratch for the int8 export, the towers and JSON rows.
set -u
CK=${CK:?set CK}; FP32=${FP32:?set FP32}; WORK=${WORK:-/tmp/i23pub}; PY=${PYTHON:-python}
B=benchmarks/bench_incremental.py
mkdir -p $WORK/rows
row() { # label model paths batch tiles
  echo "=== $1"; /usr/bin/time -v $PY $B --model $2 --paths $3 --batch-size $4 --loci 1 --tiles $5 --shuffles 1 --json $WORK/rows/$1.json 2>&1 | grep -E "^(full|incremental|enformer)|Maximum resident|Elapsed|Error"
}
row fp32_full_b1 $FP32 full 1 3
row fp32_inc_b1 $FP32 incremental 1 8
row fp32_inc_b4 $FP32 incremental 4 8
echo "=== int8 export (no gate)"; /usr/bin/time -v $PY benchmarks/issue23/int8_nogate.py $FP32 $WORK/int8/enf.onnx 2>&1 | grep -E "int8 written|Maximum resident|Elapsed|Error" | cut -c1-300
row int8_inc_b1 $WORK/int8/enf.onnx incremental 1 8
row int8_inc_b4 $WORK/int8/enf.onnx incremental 4 8
echo "=== creme-nn-style loop"; /usr/bin/time -v $PY benchmarks/issue23/cremenn_loop.py --checkpoint $CK --mutants 2 2>&1 | grep -E "loop|Maximum resident|Elapsed|Error"
echo "=== last layer alone (tower)"; /usr/bin/time -v $PY benchmarks/issue23/last_layer_tower.py $CK $WORK/towers 2>&1 | grep -vE "Warn|warn|^\s+(Command|User|System|Percent|Average|Major|Minor|Vol|Invol|Swaps|File|Socket|Signals|Page|Exit)"
