"""Reduced-precision exports behind a fidelity gate measured on the model's own weights.

``int8``: ONNX Runtime's dynamic quantization of the ``MatMul``/``Gemm`` nodes with
constant weights (the transformer's projections and feed-forward, the head) in
the main graph and the tower; int8 weights, activations quantized per call; the
trunk (convolutions) and the attention products stay float32.

``fp16`` and ``bf16``: every graph (main, trunk, tower) converted by
:mod:`creme_fast.export.half`, softmax, layer norms and the head's softplus kept
in float32; made for GPUs. ``fp16`` also runs on ONNX Runtime's CPU provider
(float32 kernels between casts: the gate's figures, no speed-up). ``bf16`` is
refused where ONNX Runtime offers no CUDA provider: its CPU provider has no bf16
kernels for the model's operators, so the gate could not run (and PyTorch's CPU
backend computes bf16 matrix products natively only with AVX-512 BF16 or AMX,
:func:`cpu_has_bf16`).

The gate: the float32 export (incremental evaluation when it has pieces) and the
reduced one run the same necessity plan on calibration loci, the reduced one
through the full path and, when the export has pieces, through incremental
evaluation, and the same context-dependence plan (:data:`CONTEXT_SHUFFLES`
shuffled contexts per locus, full passes: a shuffled context has no incremental
path); the export records the largest effect difference, the Spearman
correlation of tile effects per track and the tiles whose category changes at
the paper's thresholds (+-0.3 necessity; 0.95 / 0.05 / -0.3 context), and
refuses below ``min_spearman`` or with any flip unless forced.
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from creme_fast.export.half import HALF_FORMATS, half_method, write_half
from creme_fast.runtime.checksum import CHECKSUM_VERSION, file_sha256, weights_sha256
from creme_fast.runtime.metadata import METADATA_KEY, ModelMetadata, describe_gate

log = logging.getLogger(__name__)

__all__ = ["CONTEXT_SHUFFLES", "NECESSITY_THRESHOLD", "PRECISIONS", "calibration_loci",
           "check_precision", "compare_context", "compare_effects", "context_effects",
           "cpu_has_bf16", "gate_figures", "gate_passes",
           "necessity_effects", "reduce_export"]

PRECISIONS = ("fp32", "fp16", "bf16", "int8")
NECESSITY_THRESHOLD = 0.3  # the paper's: |effect| > 0.3 calls a tile enhancing / silencing
#: Shuffled contexts per calibration locus in the gate's context-dependence plan.
CONTEXT_SHUFFLES = 5
INT8_METHOD = ("onnxruntime.quantization.quantize_dynamic: MatMul/Gemm with constant "
               "weights, int8 weights, uint8 activations quantized per call")


def cpu_has_bf16() -> bool:
    """Whether this CPU has native bf16 matrix instructions (AVX-512 BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags.split() for flag in ("avx512_bf16", "amx_bf16"))


def check_precision(precision: str, available: list[str] | None = None) -> None:
    """Raise, naming the reason, for a precision that cannot be exported (and gated) here.

    Parameters
    ----------
    precision : str
    available : list of str, optional
        ONNX Runtime's providers (default: ``onnxruntime.get_available_providers()``).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "bf16":
        return
    if available is None:
        import onnxruntime

        available = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return
    where = ("this CPU has AVX-512 BF16/AMX, but ONNX Runtime's CPU provider has no "
             "bf16 kernels for the model's operators" if cpu_has_bf16() else
             "this CPU has no AVX-512 BF16 or AMX instructions and ONNX Runtime's CPU "
             "provider no bf16 kernels for the model's operators")
    raise ValueError(f"--precision bf16: {where}, so its gate cannot run here and a bf16 graph "
                     "would give no speed-up; export bf16 where onnxruntime-gpu offers the "
                     "CUDA provider, or use fp16, int8 or fp32")


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
                            seed=seed, verbose=False, tile_size=tile_size, bins="all").effect


def context_effects(predictor: Any, loci: np.ndarray, *, seed: int = 0) -> np.ndarray:
    """Context effects (loci, tracks) of the gate's context-dependence plan."""
    from creme_fast import assays

    tile_size = min(5000, max(predictor.seq_length // 16, 1))
    return assays.context_dependence(predictor, loci, num_shuffles=CONTEXT_SHUFFLES,
                                     seed=seed, verbose=False, tile_size=tile_size,
                                     bins="all").effect


def compare_context(want: np.ndarray, got: np.ndarray) -> dict[str, Any]:
    """The gate's figures for context effects ``got`` against float32 ``want``.

    Returns
    -------
    dict
        ``max_abs_effect_diff``, ``max_abs_effect``, ``flips`` (locus-track pairs
        whose paper category, enhancing > 0.95 / neutral |x| < 0.05 / silencing
        < -0.3 / other, changes) and ``pairs`` compared.
    """
    from creme_fast.assays.context import categorize_context

    want, got = np.asarray(want, dtype=np.float64), np.asarray(got, dtype=np.float64)
    return {"max_abs_effect_diff": float(np.nanmax(np.abs(got - want))),
            "max_abs_effect": float(np.nanmax(np.abs(want))),
            "flips": int(np.sum(categorize_context(got) != categorize_context(want))),
            "pairs": int(want.size)}


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


def gate_figures(reference: Any, reduced: Any, loci: np.ndarray, *,
                 paths: tuple[str, ...] = ("full",), seed: int = 0) -> dict[str, dict[str, Any]]:
    """The whole gate: necessity through each of ``paths`` and context dependence.

    ``reference`` runs incremental evaluation when ``"incremental"`` is among
    ``paths`` (float32 pieces equal float32 full passes to the export
    tolerance, at a fraction of the cost), else full passes.

    Returns
    -------
    dict
        ``{path: compare_effects(...)}`` for each of ``paths`` and
        ``{"context": compare_context(...)}``.
    """
    want = necessity_effects(reference, loci, incremental="incremental" in paths, seed=seed)
    gate = {path: compare_effects(want, necessity_effects(reduced, loci,
                                                          incremental=path != "full",
                                                          seed=seed))
            for path in paths}
    gate["context"] = compare_context(context_effects(reference, loci, seed=seed),
                                      context_effects(reduced, loci, seed=seed))
    return gate


def gate_passes(gate: dict[str, dict[str, Any]], min_spearman: float) -> bool:
    """No category flips anywhere; tile effects correlate >= ``min_spearman`` per track."""
    return all(g["flips"] == 0 and g.get("min_spearman", 1.0) >= min_spearman
               for g in gate.values())


def _quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(src), str(dst), op_types_to_quantize=["MatMul", "Gemm"],
                     weight_type=QuantType.QInt8)


def _convert(precision: str, src: Path, dst: Path, piece: str) -> None:
    """Write ``dst``, the ``precision`` version of ``src`` (``piece``: main, trunk, tower).
    int8 leaves the trunk (convolutions) float32."""
    if precision != "int8":
        write_half(src, dst, precision)
    elif piece == "trunk":
        shutil.copyfile(src, dst)
    else:
        _quantize(src, dst)


def reduce_export(fp32: Path, out: Path, precision: str, *, loci: np.ndarray,
                  min_spearman: float = 0.999, force: bool = False,
                  run_gate: bool = True, providers: str | None = None) -> dict[str, Any]:
    """Write ``out`` (and its pieces) as the ``precision`` version of the float32 export.

    Parameters
    ----------
    fp32 : pathlib.Path
        A verified float32 export (with its pieces, if any).
    out : pathlib.Path
    precision : {"int8", "fp16", "bf16"}
    loci : numpy.ndarray of uint8, shape=(n, seq_length)
        Calibration sequences for the gate.
    min_spearman : float, default=0.999
    force : bool, default=False
        Write a model that fails the gate anyway, marked ``"passed": false``.
    run_gate : bool, default=True
        False (Python only, for speed benchmarks of a model whose gate costs
        too long to run): write it without the gate, marked ``"gate_run":
        false`` and ``"passed": false`` (``info`` and ``run`` say so).
    providers : str, optional
        Where the gate runs both exports (:class:`OnnxPredictor`'s ``providers``;
        default: the best available, so a GPU machine gates on its GPU).

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
    if precision == "fp32":
        raise ValueError("reduce_export makes int8, fp16 or bf16 exports, not fp32")
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.stem}-{precision}-") as tmp:
        stage = Path(tmp) / out.name
        _convert(precision, fp32, stage, "main")
        meta_model = onnx.load(str(fp32), load_external_data=False)
        meta = ModelMetadata.from_json(next(p.value for p in meta_model.metadata_props
                                            if p.key == METADATA_KEY), str(fp32))
        fp32_trunk, fp32_tower = piece_paths(fp32)
        trunk, tower = piece_paths(stage)
        pieces = meta.incremental
        if pieces:
            _convert(precision, fp32_trunk, trunk, "trunk")
            _convert(precision, fp32_tower, tower, "tower")
            pieces = {**pieces, "trunk": {"file": piece_paths(out)[0].name,
                                          "sha256": file_sha256(trunk)},
                      "tower": {"file": piece_paths(out)[1].name,
                                "sha256": file_sha256(tower)}}
        model = onnx.load(str(stage))
        del model.metadata_props[:]
        entry: dict[str, Any] = {"format": precision, "method": INT8_METHOD
                                 if precision == "int8" else half_method(precision),
                                 "min_spearman": float(min_spearman),
                                 "calibration_loci": int(len(loci))}
        dtype = HALF_FORMATS.get(precision, meta.dtype)
        meta = dataclasses.replace(meta, incremental=pieces, checksum=weights_sha256(model),
                                   dtype=dtype, checksum_version=CHECKSUM_VERSION,
                                   extra={**meta.extra, "precision": entry})
        prop = model.metadata_props.add()
        prop.key, prop.value = METADATA_KEY, meta.to_json()
        onnx.save(model, str(stage))
        if run_gate:
            try:
                reduced = OnnxPredictor(stage, providers=providers)
            except ValueError as exc:
                raise ExportError(f"{precision}: the converted graph cannot run here, so its "
                                  f"gate cannot either: {exc}") from None
            entry["gate_provider"] = reduced.provider
            gate = gate_figures(OnnxPredictor(fp32, providers=providers), reduced, loci,
                                paths=(("full", "incremental") if meta.incremental
                                       else ("full",)))
            passed = gate_passes(gate, min_spearman)
        else:
            gate, passed = {}, False
        entry.update({"gate": gate, "gate_run": bool(run_gate), "passed": passed,
                      "forced": bool(run_gate and force and not passed)})
        text = describe_gate(gate) if run_gate else "not run (run_gate=False)"
        if run_gate and not passed and not force:
            raise ExportError(f"{precision} fails its fidelity gate (Spearman >= "
                              f"{min_spearman}, no category flip): {text}; {out} was not "
                              "written (--force writes it anyway, marked)")
        state = ("passed" if passed else "FAILED, written anyway (--force)" if run_gate
                 else "NOT RUN, written for benchmarks")
        log.log(logging.WARNING if not passed else logging.INFO, "%s gate %s: %s", precision,
                state, text)
        meta = dataclasses.replace(meta, extra={**meta.extra, "precision": entry})
        del model.metadata_props[:]
        prop = model.metadata_props.add()
        prop.key, prop.value = METADATA_KEY, meta.to_json()
        if meta.incremental:
            for src, dst in zip((trunk, tower), piece_paths(out)):
                atomic_write(dst, lambda t, s=src: shutil.copyfile(s, t))
        atomic_write(out, lambda t: onnx.save(model, str(t)))
    return entry
