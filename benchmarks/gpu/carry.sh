#!/usr/bin/env bash
# Prepare what the GPU run carries to the device (README.md beside this): ONNX
# Runtime's CUDA build and the pure-Python wheels the export needs there, packed in
# one tar with their sha256 sums and split into equal pieces, one per folder
# .w1/ .w2/ ... in the repository root (git ignores /.w*/). Each call of the device
# tool carries one folder with the working tree, 64 MiB in all.
#
#   bash benchmarks/gpu/carry.sh                       download (pip) and split
#   bash benchmarks/gpu/carry.sh --wheels-from DIR     split the .whl files of DIR
#
# Wheels (cp312, manylinux x86-64, as the device's Python 3.12 needs):
#   onnxruntime-gpu 1.31.1 (CUDA 13, 255.6 MB; its TensorRT provider needs TensorRT 10,
#     libnvinfer.so.10 from tensorrt-cu13-libs, gigabytes: not carried)
#   enformer-pytorch 0.8.12 and its pin transformers 4.56.2 (the device has 5.x), with
#     the versions that pin accepts of huggingface-hub (< 1.0) and tokenizers (<= 0.23.0)
#   pyfaidx (enformer-pytorch and creme-fast read FASTA with it), creme-nn 0.2.5 (stage c)
# polars (enformer-pytorch's data loader; a 54 MB runtime) is not carried: run.sh puts
# a stand-in in its place.
set -euo pipefail

ROOT=${CARRY_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PIECE_MIB=${PIECE_MIB:-52}  # + the working tree (~2 MiB) stays under 64 MiB a call
PIECES=${PIECES:-5}
WHEELS=(onnxruntime-gpu==1.31.1 enformer-pytorch==0.8.12 transformers==4.56.2
        huggingface-hub==0.36.2 tokenizers==0.22.2 pyfaidx==0.9.2.2 creme-nn==0.2.5)
FROM=""
while [ $# -gt 0 ]; do
  case $1 in
    --wheels-from) FROM=${2:?--wheels-from needs a folder}; shift 2 ;;
    *) echo "carry.sh: unknown option $1 (only --wheels-from DIR)" >&2; exit 2 ;;
  esac
done

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/wheels"
if [ -n "$FROM" ]; then
  cp "$FROM"/*.whl "$STAGE/wheels/"
else
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$STAGE/wheels" "${WHEELS[@]}"
fi
(cd "$STAGE/wheels" && sha256sum *.whl > SHA256SUMS)
tar -cf "$STAGE/carry.tar" -C "$STAGE" wheels
SIZE=$(stat -c %s "$STAGE/carry.tar")
# equal pieces, at most PIECE_MIB each: fewer calls where the wheels are smaller
COUNT=$(( (SIZE + PIECE_MIB * 1048576 - 1) / (PIECE_MIB * 1048576) ))
CHUNK=$(( (SIZE + COUNT - 1) / COUNT ))
(cd "$STAGE" && split -b "$CHUNK" -d -a 2 carry.tar part.)
rm -rf "$ROOT"/.w[0-9]*
i=0
for part in "$STAGE"/part.*; do
  i=$((i + 1))
  mkdir -p "$ROOT/.w$i"
  mv "$part" "$ROOT/.w$i/"
done
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1 \
    && ! git -C "$ROOT" check-ignore -q "$ROOT/.w1"; then  # keep the pieces out of git
  echo '/.w*/' >> "$(git -C "$ROOT" rev-parse --git-path info/exclude)"
fi
echo "carry.sh: $(ls "$STAGE/wheels" | grep -c '\.whl$') wheels, $(( SIZE / 1048576 )) MiB, in $i pieces of at most $(( CHUNK / 1048576 + 1 )) MiB: .w1 .. .w$i"
[ "$i" -le "$PIECES" ] || echo "carry.sh: more than $PIECES pieces: more calls than README.md plans" >&2
