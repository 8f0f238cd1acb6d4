"""Reduced-precision exports behind a fidelity gate measured on the model's own weights.

``int8``: ONNX Runtime's dynamic quantization of the ``MatMul``/``Gemm`` nodes with
constant weights (the transformer's projections and feed-forward, the head) in
the main graph and the tower; int8 weights, activations quantized per call; the
trunk (convolutions) and the attention products stay float32.

``bf16`` is refused where no runtime here has bf16 kernels: ONNX Runtime's CPU
provider has no bf16 MatMul, and PyTorch's CPU backend computes bf16 matrix
products natively only with AVX-512 BF16 or AMX (:func:`cpu_has_bf16`); elsewhere
a bf16 graph falls back to float32 kernels plus conversions, which is no speed-up.

The gate: the float32 export (incremental evaluation when it has pieces) and the
reduced one run the same necessity plan on calibration loci, the reduced one
through the full path and, when the export has pieces, through incremental
evaluation; the export records
the largest effect difference, the Spearman correlation of tile effects per
track and the tiles whose category changes at the paper's thresholds (+-0.3),
and refuses below ``min_spearman`` or with any flip unless forced.
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from creme_fast.runtime.checksum import file_sha256, weights_sha256
from creme_fast.runtime.metadata import METADATA_KEY, ModelMetadata

log = logging.getLogger(__name__)

__all__ = ["NECESSITY_THRESHOLD", "PRECISIONS", "calibration_loci", "check_precision",
           "compare_effects", "cpu_has_bf16", "fidelity_figures", "necessity_effects", "gate_passes", "reduce_export"]

PRECISIONS = ("fp32", "bf16", "int8")
NECESSITY_THRESHOLD = 0.3  # the paper's: |effect| > 0.3 calls a tile enhancing / silencing
INT8_METHOD = ("onnxruntime.quantization.quantize_dynamic: MatMul/Gemm with constant "
               "weights, int8 weights, uint8 activations quantized per call")


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 matrix instructions (AVX-512 BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def check_precision(precision: str) -> None:
    """Raise, naming the reason, for a precision that cannot be exported here."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "bf16":
        where = ("this CPU has AVX-512 BF16/AMX, but ONNX Runtime's CPU provider has no "
                 "bf16 MatMul kernels" if cpu_has_bf16() else
                 "this CPU has no AVX-512 BF16 or AMX instructions and ONNX Runtime's CPU "
                 "provider no bf16 MatMul kernels")
        raise ValueError(f"--precision bf16: {where}, so a bf16 graph would run on float32 "
                         "kernels plus conversions (no speed-up); use int8 or fp32")


def calibration_loci(seq_length: int, n: int, fasta: str | Path | None = None,
                     seed: int = 0) -> np.ndarray:
    """``n`` calibration sequences: centre windows of ``fasta`` records, else genome-like.

    Raises
    ------
    ValueError
        The FASTA holds no record of at least ``seq_length`` bp.
    """
    from creme_fast.bench import random_locus

    if fasta is None:
        return np.stack([random_locus(seq_length, seed=seed + i) for i in range(n)])
    from creme_fast.io.genome import Genome

    out = []
    with Genome(fasta) as genome:
        for chrom, size in genome.lengths.items():
            if size >= seq_length:
                start = (size - seq_length) // 2
                out.append(genome.interval(chrom, start, start + seq_length))
            if len(out) == n:
                break
    if not out:
        raise ValueError(f"--calibration-fasta {fasta}: no record of at least {seq_length:,} "
                         "bp (the model's window)")
    return np.stack(out)


def _categories(effect: np.ndarray) -> np.ndarray:
    return np.sign(effect) * (np.abs(effect) > NECESSITY_THRESHOLD)


def necessity_effects(predictor: Any, loci: np.ndarray, *, incremental: bool,
                      seed: int = 0) -> np.ndarray:
    """Tile effects (loci, tiles, tracks) of the gate's necessity plan (one shuffle)."""
    from creme_fast import assays

    # the paper's 5 kb tiles; 16 tiles on a sequence too short for them
    tile_size = min(5000, max(predictor.seq_length // 16, 1))
    return assays.necessity(predictor, loci, incremental=incremental, num_shuffles=1,
                            seed=seed, verbose=False, tile_size=tile_size).effect


def compare_effects(want: np.ndarray, got: np.ndarray) -> dict[str, Any]:
    """The gate's figures for reduced-precision effects ``got`` against float32 ``want``.

    Returns
    -------
    dict
        ``max_abs_effect_diff``, ``max_abs_effect``, ``spearman`` (per track, over
        loci x tiles), ``min_spearman``, ``flips`` (tiles whose category at +-0.3
        changes) and ``tiles`` compared.
    """
    from scipy.stats import spearmanr

    tracks = want.shape[-1]
    want2, got2 = want.reshape(-1, tracks), got.reshape(-1, tracks)
    rho = []
    for t in range(tracks):
        value = spearmanr(want2[:, t], got2[:, t]).statistic
        rho.append(float(value) if np.isfinite(value) else 0.0)
    return {"max_abs_effect_diff": float(np.nanmax(np.abs(got - want))),
            "max_abs_effect": float(np.nanmax(np.abs(want))),
            "spearman": rho, "min_spearman": float(min(rho)),
            "flips": int(np.sum(_categories(got) != _categories(want))),
            "tiles": int(want2.shape[0])}


def fidelity_figures(reference: Any, reduced: Any, loci: np.ndarray, *, incremental: bool,
                     seed: int = 0) -> dict[str, Any]:
    """The necessity plan on ``loci`` through both predictors, compared.

    The reference runs full passes; ``reduced`` runs incremental evaluation when
    ``incremental``. See :func:`compare_effects` for the figures.
    """
    want = necessity_effects(reference, loci, incremental=False, seed=seed)
    return compare_effects(want, necessity_effects(reduced, loci, incremental=incremental,
                                                   seed=seed))


def gate_passes(gate: dict[str, dict[str, Any]], min_spearman: float) -> bool:
    """Every path's tile effects correlate >= ``min_spearman`` per track, no flip."""
    return all(g["min_spearman"] >= min_spearman and g["flips"] == 0 for g in gate.values())


def _quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul", "Gemm"],
                     weight_type=QuantType.QInt8)


def _describe(figures: dict[str, Any]) -> str:
    rho = ", ".join(f"{r:.5f}" for r in figures["spearman"])
    return (f"largest effect difference {figures['max_abs_effect_diff']:.3g} (largest effect "
            f"{figures['max_abs_effect']:.3g}), Spearman per track {rho}, "
            f"{figures['flips']} of {figures['tiles']} x {len(figures['spearman'])} tile "
            f"categories flipped at +-{NECESSITY_THRESHOLD}")


def reduce_export(fp32: Path, out: Path, precision: str, *, loci: np.ndarray,
                  min_spearman: float = 0.999, force: bool = False) -> dict[str, Any]:
    """Write ``out`` (and its pieces) as the ``precision`` version of the float32 export.

    Parameters
    ----------
    fp32 : pathlib.Path
        A verified float32 export (with its pieces, if any).
    out : pathlib.Path
    precision : {"int8"}
    loci : numpy.ndarray of uint8, shape=(n, seq_length)
        Calibration sequences for the gate.
    min_spearman : float, default=0.999
    force : bool, default=False
        Write a model that fails the gate anyway, marked ``"passed": false``.

    Returns
    -------
    dict
        The ``precision`` entry written into the metadata (``extra``).

    Raises
    ------
    creme_fast.export.core.ExportError
        The gate failed and ``force`` is false; nothing is written.
    """
    import onnx

    from creme_fast.export.core import ExportError
    from creme_fast.export.incremental import piece_paths
    from creme_fast.io.tables import atomic_write
    from creme_fast.runtime import OnnxPredictor

    check_precision(precision)
    if precision != "int8":
        raise ValueError(f"reduce_export makes int8 exports, not {precision!r}")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}-{precision}-") as tmp:
        stage = Path(tmp) / out.name
        _quantize(fp32, stage)
        meta_model = onnx.load(str(fp32), load_external_data=False)
        meta = ModelMetadata.from_json(next(p.value for p in meta_model.metadata_props
                                            if p.key == METADATA_KEY), str(fp32))
        fp32_trunk, fp32_tower = piece_paths(fp32)
        trunk, tower = piece_paths(stage)
        pieces = meta.incremental
        if pieces:
            shutil.copyfile(fp32_trunk, trunk)
            _quantize(fp32_tower, tower)
            pieces = {**pieces, "trunk": {"file": piece_paths(out)[0].name,
                                          "sha256": file_sha256(trunk)},
                      "tower": {"file": piece_paths(out)[1].name,
                                "sha256": file_sha256(tower)}}
        model = onnx.load(str(stage))
        del model.metadata_props[:]
        entry: dict[str, Any] = {"format": precision, "method": INT8_METHOD,
                                 "min_spearman": float(min_spearman),
                                 "calibration_loci": int(len(loci))}
        meta = dataclasses.replace(meta, incremental=pieces, checksum=weights_sha256(model),
                                   extra={**meta.extra, "precision": entry})
        prop = model.metadata_props.add()
        prop.key, prop.value = METADATA_KEY, meta.to_json()
        onnx.save(model, str(stage))
        reference = OnnxPredictor(fp32)
        reduced = OnnxPredictor(stage)
        # fp32 incremental evaluation equals its full passes to 1e-5 (verified at
        # export) and costs a fraction of them: the reference when the pieces exist
        want = necessity_effects(reference, loci, incremental=bool(meta.incremental))
        gate = {path: compare_effects(want, necessity_effects(reduced, loci,
                                                              incremental=path != "full"))
                for path in (("full", "incremental") if meta.incremental else ("full",))}
        passed = gate_passes(gate, min_spearman)
        entry.update({"gate": gate, "passed": passed, "forced": bool(force and not passed)})
        text = "; ".join(f"{path}: {_describe(g)}" for path, g in gate.items())
        if not passed and not force:
            raise ExportError(f"{precision} fails its fidelity gate (Spearman >= "
                              f"{min_spearman}, no category flip): {text}; {out} was not "
                              "written (--force writes it anyway, marked)")
        log.log(logging.WARNING if not passed else logging.INFO, "%s gate %s: %s", precision,
                "FAILED, written anyway (--force)" if not passed else "passed", text)
        meta = dataclasses.replace(meta, extra={**meta.extra, "precision": entry})
        del model.metadata_props[:]
        prop = model.metadata_props.add()
        prop.key, prop.value = METADATA_KEY, meta.to_json()
        if meta.incremental:
            for src, dst in zip((trunk, tower), piece_paths(out)):
                atomic_write(dst, lambda t, s=src: shutil.copyfile(s, t))
        atomic_write(out, lambda t: onnx.save(model, str(t)))
    return entry
