#!/bin/bash
# The published-Borzoi rows of benchmarks/RESULTS.md (issue 31), one quiet window per step,
# run from the repository root:  bash benchmarks/issue31/rows_published.sh export|flops|time|memory
# CK: a random-weights snapshot (python benchmarks/issue31/make_borzoi_checkpoint.py $CK)
# OUT: its export (the paper's six CAGE tracks and 8 TSS bins, token input, with pieces).
set -u
CK=${CK:?set CK}; OUT=${OUT:?set OUT}; WORK=${WORK:-/tmp/i31pub}; PY=${PYTHON:-python}
mkdir -p "$WORK" "$(dirname "$OUT")"
keep='^(full|incremental|borzoi|path=)|Maximum resident|Elapsed|Error|error|stage .* done|wrote'
case ${1:?step} in
export)
  /usr/bin/time -v creme-fast export --model borzoi --checkpoint "$CK" --out "$OUT" \
      --tracks 298,299,870,871,872,873 --bins 3068-3075 --input tokens 2>&1 \
      | grep -E "$keep|done in|verification:|pieces:" | cut -c1-260 ;;
flops)
  /usr/bin/time -v $PY benchmarks/bench_incremental.py --model "$OUT" --flops-only --seq-length 524288 \
      --tile-size 5000 --json "$WORK/flops.json" 2>&1 | grep -E "$keep|GFLOP" ;;
time)
  /usr/bin/time -v $PY benchmarks/bench_incremental.py --model "$OUT" --seq-length 524288 --tile-size 5000 \
      --tiles 2 --shuffles 1 --batch-size 1 --json "$WORK/time.json" 2>&1 \
      | grep -E "$keep|GFLOP|pass|mutant" ;;
memory)
  for path in full incremental; do for b in 1 2; do
    echo "=== $path batch $b"
    /usr/bin/time -v $PY benchmarks/bench_run_memory.py "$OUT" --batch $b --path $path 2>&1 \
        | grep -E "$keep"
  done; done ;;
esac
