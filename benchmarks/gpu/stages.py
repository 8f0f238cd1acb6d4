"""The stages of the prepared GPU run (issue 30); ``run.sh`` beside this calls them.

    python benchmarks/gpu/stages.py STAGE --out DIR --work DIR [--dry-run]

STAGE is one of:

a         providers seen; a small input-sensitive Enformer exported here; ORT CUDA fp32
          vs PyTorch (TF32 off on both) to 1e-4 relative; incremental on CUDA equal to
          full on CUDA; node placement; what ``auto`` chose and why.
b-export  the published architecture (random weights) exported here (main graph and
          pieces), and fp16/bf16 speed copies of its main graph (no gate: stage d
          gates the input-sensitive model).
b         sequences per second, time per batch and device memory at each batch size:
          ORT CUDA fp32, PyTorch bf16 autocast and fp32 eager (enformer-pytorch's own
          forward, what tangermeme and gReLU users run), ORT fp16, ORT with CUDA graphs,
          ORT bf16; the fraction of the bf16 physical limit.
c         necessity for one locus at paper settings (38 tiles x 10 shuffles + WT)
          through the pipeline, full and incremental paths: mutants/s and the
          model-busy fraction; the same plan creme-nn's way (one sequence per call) on
          its first tiles, in the same process.
d         the fidelity gate's figures for fp16 and bf16 on the input-sensitive model.

Every figure is appended to DIR/gpu.csv (stage, metric, config, batch, value, unit,
note) and logged (run.sh sends the log to DIR/gpu.log) as soon as it exists, so a
stage stopped at its time limit keeps what it measured. ``--dry-run`` runs every
stage on the CPU provider with tiny models and plans (tests/test_gpu_harness.py).
"""
from __future__ import annotations

import argparse
import csv
import gc
import logging
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))  # the suite's input-sensitive Enformer fixtures

log = logging.getLogger("gpu-run")

COLUMNS = ("stage", "metric", "config", "batch", "value", "unit", "note")
BF16_PEAK = 790e12  # dense bf16 FLOP/s measured on the lent H200 (tool library KINDS.md)
TOLERANCE = 1e-4  # ORT CUDA fp32 vs PyTorch, relative


@dataclass(frozen=True)
class Plan:
    """What each stage runs: the device's sizes, or tiny ones for ``--dry-run``."""

    dry: bool
    work: Path
    provider: str = "cuda"
    device: str = "cuda"
    small_length: int = 2048
    pub_hparams: dict[str, Any] = field(default_factory=lambda: dict(dim=1536, depth=11,
                                                                      heads=8))
    pub_length: int = 196_608
    pub_tracks: tuple[int, ...] = (4824, 5110, 5111)
    pub_bins: tuple[int, ...] = (447, 448)
    # batch 16 cannot run on CUDA: the stem's (16, 768, 196,608) tensor passes cuDNN's
    # 2^31 elements (creme_fast.runtime.gpu_batch; at most 14); 12 held 108 GiB of 140
    batches: tuple[int, ...] = (1, 4, 8, 12)
    repeats: int = 3
    tile_size: int = 5000
    shuffles: int = 10
    pipeline_batch: int = 8
    cremenn_tiles: int = 8

    @classmethod
    def make(cls, dry: bool, work: Path) -> Plan:
        if not dry:
            return cls(dry=False, work=work)
        from enformer_fixtures import SMALL

        return cls(dry=True, work=work, provider="cpu", device="cpu", pub_hparams=dict(SMALL),
                   pub_length=2048, pub_tracks=(1, 5), pub_bins=(3, 4), batches=(1, 2),
                   repeats=1, tile_size=256, shuffles=2, pipeline_batch=4, cremenn_tiles=2)

    @property
    def small(self) -> Path:
        return self.work / "small.onnx"

    @property
    def published(self) -> Path:
        return self.work / "published.onnx"

    def speed_copy(self, precision: str) -> Path:
        return self.work / f"published.{precision}.onnx"


class Recorder:
    """Appends each figure to ``gpu.csv`` at once (flushed to disk) and logs it."""

    def __init__(self, out: Path, stage: str) -> None:
        self.path = out / "gpu.csv"
        self.stage = stage

    def row(self, metric: str, value: float | int | str, unit: str = "", *, config: str = "",
            batch: int | str = "", note: str = "") -> None:
        text = (f"{value:.6g}" if isinstance(value, float) else str(value))
        new = not self.path.exists()
        with open(self.path, "a", newline="") as handle:
            writer = csv.writer(handle)
            if new:
                writer.writerow(COLUMNS)
            writer.writerow([self.stage, metric, config, batch, text, unit, note])
            handle.flush()
            os.fsync(handle.fileno())
        where = " ".join(x for x in (config, f"batch {batch}" if batch != "" else "") if x)
        log.info("%s %s%s = %s %s%s", self.stage, metric, f" [{where}]" if where else "", text,
                 unit, f" ({note})" if note else "")


# --- helpers -----------------------------------------------------------------------


def _onnxruntime(plan: Plan) -> Any:
    import onnxruntime

    if not plan.dry and hasattr(onnxruntime, "preload_dlls"):
        onnxruntime.preload_dlls()  # CUDA and cuDNN from their pip packages
    return onnxruntime


def _sync(plan: Plan) -> None:
    if plan.device == "cuda":
        import torch

        torch.cuda.synchronize()


def _device_used(plan: Plan) -> float:
    """Bytes of device memory in use by anyone (NaN on the CPU)."""
    if plan.device != "cuda":
        return math.nan
    import torch

    free, total = torch.cuda.mem_get_info()
    return float(total - free)


def _max_rel(got: np.ndarray, want: np.ndarray) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if not np.isfinite(got).all():
        return math.inf
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1e-6)))


def _tokens(n: int, length: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, size=(n, length), dtype=np.uint8)


def _torch_forward(model: Any, tokens: np.ndarray, plan: Plan, autocast: bool = False,
                   tracks: tuple[int, ...] | None = None,
                   bins: tuple[int, ...] | None = None) -> np.ndarray:
    """enformer-pytorch's own forward on the plan's device (float32 one-hot in)."""
    import torch

    from creme_fast.sequence import one_hot

    x = torch.from_numpy(one_hot(tokens)).to(plan.device)
    with torch.inference_mode(), torch.autocast(plan.device, dtype=torch.bfloat16,
                                                enabled=autocast):
        out = model(x, head="human").float()
    if bins is not None:
        out = out[:, list(bins)]
    if tracks is not None:
        out = out[:, :, list(tracks)]
    return out.cpu().numpy()


def _timed(call: Any, plan: Plan) -> tuple[float, float]:
    """(first call s, median of ``plan.repeats`` later calls s), synchronised."""
    start = time.perf_counter()
    call()
    _sync(plan)
    first = time.perf_counter() - start
    times = []
    for _ in range(plan.repeats):
        start = time.perf_counter()
        call()
        _sync(plan)
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


def _throughput_rows(plan: Plan, rec: Recorder, config: str, batch: int, first: float,
                     median: float, memory: float, flops: float) -> None:
    rate = batch / median
    rec.row("seqs_per_s", rate, "seq/s", config=config, batch=batch,
            note=f"median of {plan.repeats} after a first call of {first:.3g} s")
    rec.row("ms_per_batch", 1e3 * median, "ms", config=config, batch=batch)
    if not math.isnan(memory):
        rec.row("device_memory", memory / 2**30, "GiB", config=config, batch=batch)
    if flops:
        rec.row("fraction_of_bf16_peak", rate * flops / BF16_PEAK, "", config=config,
                batch=batch, note=f"{flops / 1e9:,.1f} GFLOP/seq (the export's count) at "
                f"{BF16_PEAK / 1e12:.0f} TFLOP/s")


# --- stage a -----------------------------------------------------------------------


def stage_a(plan: Plan, rec: Recorder) -> None:
    import torch
    from creme_fast.export import export_enformer
    from enformer_fixtures import make_small_enformer

    from creme_fast import assays
    from creme_fast.runtime import OnnxPredictor
    from creme_fast.runtime.placement import CpuNodesError
    from creme_fast.runtime.providers import skipped_providers

    ort = _onnxruntime(plan)
    available = ort.get_available_providers()
    rec.row("providers", len(available), note=" ".join(available))
    import enformer_pytorch
    import transformers

    rec.row("versions", ort.__version__, note=f"torch {torch.__version__} (CUDA "
            f"{torch.version.cuda}), transformers {transformers.__version__} from "
            f"{Path(transformers.__file__).parent.parent}, enformer-pytorch from "
            f"{Path(enformer_pytorch.__file__).parent.parent}, onnxruntime from "
            f"{Path(ort.__file__).parent.parent}")
    if plan.device == "cuda":
        props = torch.cuda.get_device_properties(0)
        rec.row("gpu_memory", props.total_memory / 2**30, "GiB", note=props.name)

    model = make_small_enformer()
    start = time.perf_counter()
    export_enformer(model, plan.small, seq_length=plan.small_length, input_kind="tokens")
    rec.row("export_small_s", time.perf_counter() - start, "s",
            note="input-sensitive small Enformer (tests/enformer_fixtures.py), with pieces")

    torch.backends.cudnn.allow_tf32 = False  # the reference in true float32
    torch.backends.cuda.matmul.allow_tf32 = False
    model = model.to(plan.device)
    tokens = _tokens(4, plan.small_length, seed=11)
    want = _torch_forward(model, tokens, plan)
    spread = float(np.max(np.abs(want[0] - want[1]) / np.maximum(np.abs(want[1]), 1e-12)))
    rec.row("input_spread", spread, note="rows differ: the comparisons below can fail")

    strict = "yes"
    try:
        predictor = OnnxPredictor(plan.small, providers=plan.provider)
    except CpuNodesError as exc:
        strict = "refused"
        rec.row("strict_provider_refused", 1, config=plan.provider, note=str(exc)[:400])
        predictor = OnnxPredictor(plan.small, providers=plan.provider, allow_cpu_nodes=True)
    rec.row("session_provider", predictor.provider, config=plan.provider,
            note=f"strict placement check: {strict}")
    for graph, placement in predictor.placement.items():
        if placement is None:
            rec.row("placement_known", 0, config=graph)
            continue
        rec.row("placement_cpu_flop_share", placement.cpu_flop_share, config=graph,
                note=placement.describe())
        rec.row("placement_cpu_work_nodes", len(placement.cpu_work), config=graph,
                note="; ".join(f"{op} {name}" for name, op, *_ in placement.cpu_work[:8]))

    options = {"use_tf32": "0"} if plan.provider == "cuda" else {}
    names = (["CUDAExecutionProvider", "CPUExecutionProvider"] if plan.provider == "cuda"
             else ["CPUExecutionProvider"])
    session = ort.InferenceSession(str(plan.small), providers=names,
                                   provider_options=[options, {}][:len(names)])
    strict_fp32 = session.run(None, {session.get_inputs()[0].name: tokens})[0]
    rel = _max_rel(strict_fp32, want)
    rec.row("ort_fp32_vs_torch_max_rel", rel, config=f"{plan.provider} use_tf32=0",
            note=f"{'PASS' if rel <= TOLERANCE else 'FAIL'} at {TOLERANCE:g}")
    del session
    default = predictor.predict(tokens)
    rec.row("ort_default_vs_torch_max_rel", _max_rel(default, want),
            config=f"{plan.provider} OnnxPredictor defaults (TF32 allowed by ORT)")

    inc = predictor.incremental
    rows = inc.tower(inc.trunk(tokens))
    rec.row("incremental_vs_full_max_rel", _max_rel(rows, default), config=plan.provider,
            note="tower(trunk(x)) vs predict(x), same provider")
    seq = tokens[0]
    tile = max(plan.small_length // 16, 1)
    full = assays.necessity(predictor, seq, tile_size=tile, num_shuffles=2, verbose=False,
                            incremental=False).effect
    fast = assays.necessity(predictor, seq, tile_size=tile, num_shuffles=2, verbose=False,
                            incremental=True).effect
    rec.row("necessity_incremental_vs_full_max_abs", float(np.max(np.abs(fast - full))),
            config=plan.provider, note=f"largest effect {float(np.max(np.abs(full))):.3g}")

    auto = OnnxPredictor(plan.small)
    skipped = skipped_providers(available, auto.provider)
    rec.row("auto_provider", auto.provider, note="; ".join(
        f"{name}: {why}" for name, (why, _) in skipped.items()) or "nothing better skipped")


# --- stage b -----------------------------------------------------------------------


def stage_b_export(plan: Plan, rec: Recorder) -> None:
    import onnx
    import torch
    from creme_fast.export import export_enformer
    from creme_fast.export.half import to_bf16, to_half
    from enformer_pytorch import Enformer

    torch.manual_seed(0)
    model = Enformer.from_hparams(**plan.pub_hparams).eval()
    start = time.perf_counter()
    export_enformer(model, plan.published, seq_length=plan.pub_length,
                    tracks=list(plan.pub_tracks), bins=list(plan.pub_bins), input_kind="tokens")
    rec.row("export_published_s", time.perf_counter() - start, "s",
            note=f"{plan.pub_hparams}, random weights, tracks {plan.pub_tracks} bins "
            f"{plan.pub_bins}, with pieces")
    del model
    gc.collect()
    for precision in ("fp16", "bf16"):
        start = time.perf_counter()
        fp32 = onnx.load(str(plan.published))
        half = to_bf16(fp32) if precision == "bf16" else to_half(fp32)
        del fp32
        del half.metadata_props[:]  # a speed copy: no creme-fast metadata, no gate
        onnx.save(half, str(plan.speed_copy(precision)))
        del half
        gc.collect()
        rec.row("speed_copy_s", time.perf_counter() - start, "s", config=precision,
                note="main graph only, GATE NOT RUN (stage d gates the input-sensitive model)")


def _ort_rows(plan: Plan, rec: Recorder, path: Path, config: str, flops: float,
              cuda_graph: bool = False) -> float:
    """Throughput of one ORT graph at every batch size; returns its FLOPs per sequence."""
    from creme_fast.runtime import OnnxPredictor

    before = _device_used(plan)
    try:
        predictor = OnnxPredictor(path, providers=plan.provider, allow_cpu_nodes=True)
    except ValueError as exc:
        rec.row("load_failed", 1, config=config, note=str(exc)[:400])
        return flops
    placement = predictor.placement.get(path.name)
    if placement is not None:
        flops = flops or placement.total_flops
        rec.row("placement_cpu_flop_share", placement.cpu_flop_share, config=config,
                note=placement.describe()[:400])
    limit = predictor.gpu_limit
    if limit is not None:  # the engine's cap for this graph on this device
        rec.row("gpu_batch_limit", limit.largest, config=config, note=(
            f"{limit.elements_reason()}; " + (limit.memory_reason() if limit.by_memory
                                               is not None else "device memory unknown"))[:400])
    tokens = _tokens(max(plan.batches), predictor.seq_length, seed=3)
    for batch in plan.batches:
        if cuda_graph:
            try:
                predictor.use_buckets([batch], cuda_graph=True)
            except ValueError as exc:
                rec.row("cuda_graph_refused", 1, config=config, batch=batch, note=str(exc)[:400])
                break
        first, median = _timed(lambda: predictor.predict(tokens[:batch]), plan)
        _throughput_rows(plan, rec, config, batch, first, median,
                         _device_used(plan) - before, flops)
    del predictor
    gc.collect()
    return flops


def _torch_rows(plan: Plan, rec: Recorder, model: Any, config: str, autocast: bool,
                flops: float) -> None:
    import torch

    tokens = _tokens(max(plan.batches), plan.pub_length, seed=3)
    for batch in plan.batches:
        if plan.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        try:
            first, median = _timed(lambda: _torch_forward(model, tokens[:batch], plan,
                                                          autocast=autocast), plan)
        except RuntimeError as exc:  # out of memory, a missing kernel
            rec.row("torch_failed", 1, config=config, batch=batch, note=str(exc)[:300])
            break
        memory = (float(torch.cuda.max_memory_allocated()) if plan.device == "cuda"
                  else math.nan)
        _throughput_rows(plan, rec, config, batch, first, median, memory, flops)


def stage_b(plan: Plan, rec: Recorder) -> None:
    import torch
    from enformer_pytorch import Enformer

    from creme_fast.runtime.flops import count_flops

    _onnxruntime(plan)
    # on a GPU the session's placement counts them; on the CPU count them here
    flops = (0.0 if plan.provider == "cuda" else
             count_flops(plan.published, {"sequence": (1, plan.pub_length)})["total"])
    flops = _ort_rows(plan, rec, plan.published, f"ORT {plan.provider} fp32", flops)
    torch.manual_seed(0)
    model = Enformer.from_hparams(**plan.pub_hparams).eval().to(plan.device)
    _torch_rows(plan, rec, model, f"PyTorch {plan.device} bf16 autocast (full head)", True,
                flops)
    _ort_rows(plan, rec, plan.speed_copy("fp16"), f"ORT {plan.provider} fp16", flops)
    _torch_rows(plan, rec, model, f"PyTorch {plan.device} fp32 eager (full head)", False, flops)
    del model
    gc.collect()
    if plan.device == "cuda":
        torch.cuda.empty_cache()
    for precision, path in (("fp16", plan.speed_copy("fp16")), ("fp32", plan.published)):
        if plan.provider == "cuda":
            _ort_rows(plan, rec, path, f"ORT cuda {precision} CUDA graph", flops,
                      cuda_graph=True)
        else:  # the option's refusal is what the CPU can show
            _ort_rows(plan, rec, path, f"ORT {plan.provider} {precision} CUDA graph", flops,
                      cuda_graph=True)
            break
    _ort_rows(plan, rec, plan.speed_copy("bf16"), f"ORT {plan.provider} bf16", flops)


# --- stage c -----------------------------------------------------------------------


class _OneByOne:
    """A creme-nn model: ``predict(x)`` of one-hot float64 ``(1, L, 4)``, one call each."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.calls = 0

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.calls += 1
        return self.run(x)


def stage_c(plan: Plan, rec: Recorder) -> None:
    import torch
    from enformer_pytorch import Enformer

    from creme_fast import bench
    from creme_fast.runtime import OnnxPredictor
    from creme_fast.sequence import from_one_hot, one_hot
    from creme_fast.sequence.tiles import tile_layout

    _onnxruntime(plan)
    predictor = OnnxPredictor(plan.published, providers=plan.provider, allow_cpu_nodes=True)
    for incremental in (False, True):
        path = "incremental" if incremental else "full"
        result = bench.end_to_end(predictor, "necessity", num_shuffles=plan.shuffles,
                                  tile_size=plan.tile_size, batch_size=plan.pipeline_batch,
                                  incremental=incremental)
        config = f"ORT {plan.provider} fp32 pipeline, {path} path"
        rec.row("mutants_per_s", result["mutants_per_s"], "mutants/s", config=config,
                batch=plan.pipeline_batch, note=f"{result['mutants']} mutants in "
                f"{result['wall_s']:.3g} s; {result['n_incremental']} incremental")
        rec.row("model_busy_fraction", result["pipeline_efficiency"], config=config,
                batch=plan.pipeline_batch, note=f"model {result['model_s']:.3g} s, waited "
                f"{result['wait_s']:.3g} s")

    import creme

    locus = bench.random_locus(plan.pub_length)
    x = one_hot(locus, dtype=np.float64)
    tiles = tile_layout(plan.pub_length, plan.tile_size).tiles[:plan.cremenn_tiles]
    tiles = [[int(a), int(b)] for a, b in tiles]
    mutants = len(tiles) * plan.shuffles + 1
    torch.manual_seed(0)
    model = Enformer.from_hparams(**plan.pub_hparams).eval().to(plan.device)

    def torch_one(batch: np.ndarray) -> np.ndarray:
        return _torch_forward(model, from_one_hot(batch), plan, tracks=plan.pub_tracks,
                              bins=plan.pub_bins)

    def ort_one(batch: np.ndarray) -> np.ndarray:
        return predictor.predict(from_one_hot(batch))

    for name, run in ((f"creme-nn necessity_test, PyTorch {plan.device} fp32 eager", torch_one),
                      (f"creme-nn necessity_test, ORT {plan.provider} fp32", ort_one)):
        wrapped = _OneByOne(run)
        wrapped.predict(x[None])  # warm-up, not counted
        wrapped.calls = 0
        start = time.perf_counter()
        creme.necessity_test(wrapped, x, tiles, plan.shuffles)
        wall = time.perf_counter() - start
        rec.row("mutants_per_s", mutants / wall, "mutants/s", config=name, batch=1,
                note=f"{len(tiles)} of the plan's tiles x {plan.shuffles} shuffles + WT = "
                f"{mutants} calls ({wrapped.calls}) in {wall:.3g} s")


# --- stage d -----------------------------------------------------------------------


def stage_d(plan: Plan, rec: Recorder) -> None:
    from creme_fast.export import ExportError, export_enformer
    from creme_fast.export.precision import calibration_loci, check_precision, reduce_export
    from enformer_fixtures import make_small_enformer

    _onnxruntime(plan)
    if not plan.small.is_file():
        export_enformer(make_small_enformer(), plan.small, seq_length=plan.small_length,
                        input_kind="tokens")
    loci = calibration_loci(plan.small_length, 2)
    for precision in ("fp16", "bf16"):
        out = plan.work / f"small.{precision}.onnx"
        try:
            check_precision(precision)
            start = time.perf_counter()
            entry = reduce_export(plan.small, out, precision, loci=loci, force=True,
                                  providers=plan.provider)
        except (ValueError, ExportError) as exc:
            rec.row("gate_not_run", 1, config=precision, note=str(exc)[:400])
            continue
        rec.row("gate_passed", int(entry["passed"]), config=precision,
                note=f"on {entry.get('gate_provider')} in {time.perf_counter() - start:.3g} s")
        for path, figures in entry["gate"].items():
            if "min_spearman" in figures:
                rec.row("gate_min_spearman", figures["min_spearman"], config=f"{precision} {path}")
            rec.row("gate_flips", figures["flips"], config=f"{precision} {path}",
                    note=f"of {figures.get('tiles', figures.get('pairs'))}")
            rec.row("gate_max_abs_effect_diff", figures["max_abs_effect_diff"],
                    config=f"{precision} {path}",
                    note=f"largest effect {figures['max_abs_effect']:.3g}")


STAGES = {"a": stage_a, "b-export": stage_b_export, "b": stage_b, "c": stage_c, "d": stage_d}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=sorted(STAGES))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    args.out.mkdir(parents=True, exist_ok=True)
    args.work.mkdir(parents=True, exist_ok=True)
    plan = Plan.make(args.dry_run, args.work)
    rec = Recorder(args.out, args.stage)
    start = time.perf_counter()
    STAGES[args.stage](plan, rec)
    rec.row("stage_s", time.perf_counter() - start, "s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
