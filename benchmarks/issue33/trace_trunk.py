"""Trace only the trunk graph of an Enformer checkpoint in the export's current form.

    python benchmarks/issue33/trace_trunk.py CK OUT.onnx [--input onehot|tokens]

What ``creme-fast export`` writes as ``NAME.trunk.onnx`` (the traced body's
``trunk``: stem + conv tower, dynamic batch and length), without the main graph,
the tower or the verification: a quick way to profile a change of the trunk's
export form on the published weights. Not a substitute for the export's check;
``profile_ort.py --trunk OUT.onnx`` compares nothing either, so compare its rows
with the export's trunk yourself (``--compare OLD.trunk.onnx``: one random 12.8 kb
window through both in ONNX Runtime).
"""
from __future__ import annotations

import argparse
import io
import warnings
from pathlib import Path

import numpy as np
import torch

from creme_fast.bench import random_locus
from creme_fast.export.checkpoint import load_enformer
from creme_fast.export.incremental import traceable_pools
from creme_fast.export.modules import EnformerBody, ExportWrapper
from creme_fast.sequence import one_hot


class Trunk(torch.nn.Module):
    def __init__(self, body: EnformerBody) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body.trunk(x)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("checkpoint")
    p.add_argument("out", type=Path)
    p.add_argument("--input", choices=["onehot", "tokens"], default="onehot")
    p.add_argument("--compare", type=Path)
    args = p.parse_args()
    model = load_enformer(args.checkpoint).eval()
    body = EnformerBody(model, "human", tracks=[4824], bins=[447], export_tower=True).eval()
    wrapper = ExportWrapper(Trunk(body), input_kind=args.input,
                            compute_dtype=torch.float32).eval()
    tokens = random_locus(4 * 128)[None].repeat(2, axis=0)
    example = torch.from_numpy(tokens if args.input == "tokens" else one_hot(tokens))
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad(), traceable_pools():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapper, (example,), buffer, input_names=["sequence"],
                          output_names=["rows"], opset_version=17, dynamo=False,
                          dynamic_axes={"sequence": {0: "batch", 1: "length"},
                                        "rows": {0: "batch", 1: "rows"}},
                          do_constant_folding=True)
    args.out.write_bytes(buffer.getvalue())
    print(f"wrote {args.out} ({len(buffer.getvalue()) / 2**20:.0f} MiB)")
    if args.compare:
        import onnxruntime as ort

        seq = random_locus(100 * 128, seed=3)[None]
        feed = seq if args.input == "tokens" else one_hot(seq)
        got = [ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
            None, {"sequence": feed})[0] for path in (args.out, args.compare)]
        with torch.no_grad():
            ref = EnformerBody(model, "human").trunk(torch.from_numpy(one_hot(seq))).numpy()
        for name, value in (("new", got[0]), ("old", got[1])):
            rel = np.max(np.abs(value - ref) / np.maximum(np.abs(ref), 1e-6))
            print(f"{name} trunk vs enformer-pytorch: max abs {np.max(np.abs(value - ref)):.3g}, "
                  f"max rel {rel:.3g} (largest |row| {np.max(np.abs(ref)):.3g})")


if __name__ == "__main__":
    main()
