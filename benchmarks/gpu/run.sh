#!/usr/bin/env bash
# The prepared GPU run of issue 30 (README.md beside this says how a session runs it).
#
#   OUT=DIR bash benchmarks/gpu/run.sh             on the device, after the carry calls
#   OUT=DIR bash benchmarks/gpu/run.sh --dry-run   anywhere: every stage on the CPU
#                                                  provider with tiny models
#
# Setup (device only): the pieces carried to $PIECES (default /tmp/w, from
# carry.sh's .w1/ .w2/ ... folders) are joined and checked; ONNX Runtime's CUDA
# build goes into its own --target folder, which shadows the image's CPU build;
# the export's pinned wheels (enformer-pytorch 0.8.12 and transformers 4.56.2,
# the image has transformers 5) into another; creme-fast itself is built there
# (its Cython kernels) into a third. The dry run makes the same folders and
# search path, empty where nothing was carried.
#
# Then the stages, in order, each under its own time limit (with the ~20 s setup
# they fit one 600 s device call): a 60 s, b-export 200 s, b 150 s, c 80 s, d 40 s
# (b-export took 184 s on an H200: export 134 s, fp16 and bf16 copies 15 + 22 s). Each figure is a
# row of $OUT/gpu.csv and a line of $OUT/gpu.log as soon as it exists; a stage
# stopped at its limit keeps what it wrote, and the next stage still runs.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DRY=0
for arg in "$@"; do
  case $arg in
    --dry-run) DRY=1 ;;
    *) echo "run.sh: unknown option $arg (only --dry-run)" >&2; exit 2 ;;
  esac
done
: "${OUT:?set OUT to the folder that gets gpu.csv and gpu.log}"
WORK=${WORK:-/tmp/creme-gpu}
PIECES=${PIECES:-/tmp/w}
PYTHON=${PYTHON:-python3}
LIMITS=${LIMITS-"a=60 b-export=200 b=150 c=80 d=40"}  # set empty: setup only
mkdir -p "$OUT" "$WORK"
LOG="$OUT/gpu.log"
say() { echo "$(date +%H:%M:%S) run.sh: $*" | tee -a "$LOG"; }
START=$(date +%s)
say "start: $( [ $DRY = 1 ] && echo dry run || echo device run ), work $WORK"

SITE="$WORK/site"            # onnxruntime-gpu (shadows the image's CPU build)
EXPORT_SITE="$WORK/export"   # enformer-pytorch and its transformers pin
PACKAGE="$WORK/package"      # creme-fast, built here
mkdir -p "$SITE" "$EXPORT_SITE" "$PACKAGE"

if [ -d "$PIECES" ] && ls "$PIECES"/part.* >/dev/null 2>&1; then
  say "joining $(ls "$PIECES"/part.* | wc -l) pieces from $PIECES"
  cat "$PIECES"/part.* | tar -x -C "$PIECES" || { say "the pieces do not make one archive"; exit 2; }
  (cd "$PIECES/wheels" && sha256sum --quiet -c SHA256SUMS) >>"$LOG" 2>&1 \
    || { say "a carried wheel differs from its checksum (see $LOG)"; exit 2; }
  say "pieces joined: $(ls "$PIECES/wheels" | grep -c '\.whl$') wheels, checksums match"
elif [ $DRY = 0 ]; then
  say "no pieces in $PIECES: make them with carry.sh and carry them first (README.md)"
  exit 2
fi

if [ $DRY = 0 ]; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$SITE" \
    "$PIECES"/wheels/onnxruntime_gpu-*.whl >>"$LOG" 2>&1 || { say "onnxruntime-gpu install failed"; exit 2; }
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --target "$EXPORT_SITE" \
    $(ls "$PIECES"/wheels/*.whl | grep -v onnxruntime_gpu) >>"$LOG" 2>&1 \
    || { say "export wheels install failed"; exit 2; }
  "$PYTHON" -m pip install -q --no-index --no-deps --no-build-isolation --target "$PACKAGE" \
    "$ROOT" >>"$LOG" 2>&1 || { say "building creme-fast failed (see $LOG)"; exit 2; }
  say "installed in $(( $(date +%s) - START )) s"
fi

# enformer-pytorch imports polars for its data loader alone; where polars is missing, a
# stand-in that fails loudly on use (polars' runtime is a 54 MB wheel: another call)
STAND_IN=""
if ! PYTHONPATH="$EXPORT_SITE" "$PYTHON" -c "import polars" 2>/dev/null; then
  mkdir -p "$WORK/stand-in/polars"
  cp "$ROOT/benchmarks/gpu/polars_stand_in.py" "$WORK/stand-in/polars/__init__.py"
  STAND_IN="$WORK/stand-in"
  say "polars missing: using benchmarks/gpu/polars_stand_in.py"
fi
export PYTHONPATH="$PACKAGE:$SITE:$EXPORT_SITE${STAND_IN:+:$STAND_IN}${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1

FLAGS=()
[ $DRY = 1 ] && FLAGS+=(--dry-run)
STAGE_DIR="$ROOT/benchmarks/gpu"
for entry in $LIMITS; do
  name=${entry%%=*}
  limit=${entry#*=}
  t0=$(date +%s)
  say "stage $name (limit ${limit} s)"
  # the package folder first: run from $WORK so that the checkout's creme_fast (without
  # its built kernels) is not picked up from the current directory
  (cd "$WORK" && timeout -k 10 "$limit" "$PYTHON" "$STAGE_DIR/stages.py" "$name" --out "$OUT" \
    --work "$WORK" "${FLAGS[@]}") >>"$LOG" 2>&1
  rc=$?
  case $rc in
    0) state="done" ;;
    124|137) state="STOPPED at its ${limit} s limit" ;;
    *) state="FAILED (exit $rc)" ;;
  esac
  say "stage $name $state after $(( $(date +%s) - t0 )) s"
done
say "all stages in $(( $(date +%s) - START )) s; figures in $OUT/gpu.csv"
