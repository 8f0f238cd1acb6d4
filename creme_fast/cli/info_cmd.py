"""``creme-fast info``: versions, providers, GPUs, and an export's metadata."""
from __future__ import annotations

import argparse
import json
import sys
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from creme_fast.runtime.metadata import METADATA_KEY, ModelMetadata, describe_precision
from creme_fast.runtime.readout import metadata_tss_bins
from creme_fast.schema.tracks import track_names_of

_PACKAGES = ("creme-fast", "numpy", "onnxruntime", "onnxruntime-gpu", "onnx", "torch",
             "enformer-pytorch", "borzoi-pytorch", "pyfaidx", "pandas", "pyarrow")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="versions, execution providers, GPUs, and a model's "
                       "metadata: tracks, TSS bins, verification")
    p.add_argument("model", nargs="?", help="an .onnx file written by creme-fast export, or "
                   "'synthetic' (the built-in model), as `run --model` takes (default: none, "
                   "the environment only)")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=run)


def _versions() -> dict[str, str]:
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            pass
    return out


def _providers() -> list[str]:
    try:
        import onnxruntime
    except ImportError:
        return []
    return list(onnxruntime.get_available_providers())


def _gpus() -> list[str]:
    """GPUs visible to torch, if torch is installed (torch is optional)."""
    try:
        import torch
    except ImportError:
        return []
    if not torch.cuda.is_available():
        return []
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def model_info(path: Path) -> dict[str, Any]:
    """Metadata of an export, with its weights checksum checked when onnx is installed."""
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path}")
    try:
        import onnx
    except ImportError:
        onnx = None
    if onnx is None:
        from creme_fast.runtime.ort import import_onnxruntime

        ort = import_onnxruntime()
        try:
            session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ValueError(f"{path}: ONNX Runtime cannot load this model: {exc}") from None
        text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        checksum_ok = None
    else:
        from creme_fast.runtime.checksum import weights_sha256

        try:
            model = onnx.load(str(path))
        except Exception as exc:
            raise ValueError(f"{path}: not a readable ONNX file: {exc}") from None
        text = next((p.value for p in model.metadata_props if p.key == METADATA_KEY), None)
        checksum_ok = None
        if text is not None:
            meta = ModelMetadata.from_json(text, str(path))
            checksum_ok = weights_sha256(model, meta.checksum_version) == meta.checksum
    if text is None:
        return {"path": str(path), "creme_fast_metadata": None}
    meta = ModelMetadata.from_json(text, str(path))
    return {"path": str(path), "creme_fast_metadata": json.loads(meta.to_json()),
            "checksum_ok": checksum_ok, "pieces": _pieces(path, meta),
            "tss_bins": metadata_tss_bins(meta), "tracks": _track_table(meta)}


def _model_path(model: str) -> Path:
    """``synthetic`` is the built-in model, as ``run --model synthetic``."""
    if model == "synthetic":
        from creme_fast.synthetic.model import synthetic_model_path

        return synthetic_model_path()
    return Path(model)


def _track_table(meta: ModelMetadata) -> list[dict[str, Any]]:
    """Each output column's original track index and name (None without names)."""
    names = track_names_of(meta)
    ids = meta.tracks if meta.tracks is not None else range(meta.n_tracks)
    return [{"track": int(t), "name": names.get(int(t))} for t in ids]


def _tracks_line(tracks: list[dict[str, Any]], shown: int = 6) -> str:
    """``"4824 CAGE:PC-3, 5110 ..., 5111 ... (3 tracks)"``, the first ``shown`` of many."""
    parts = [f"{t['track']}" + (f" {t['name']}" if t["name"] else "") for t in tracks[:shown]]
    more = f", ... ({len(tracks)} tracks)" if len(tracks) > shown else ""
    named = "" if any(t["name"] for t in tracks) else " (no names: export with --targets)"
    return ", ".join(parts) + more + named


def _bins_line(meta: dict[str, Any], tss: list[int] | None) -> str:
    """The TSS bins as output positions and, for a pruned export, the model's indices."""
    if tss is None:
        return ("none recorded: `run` and the API need --bins / bins= (output positions "
                f"0..{meta['n_bins'] - 1}, or all)")
    kept = meta.get("bins")
    where = (f" (the model's bins {', '.join(str(kept[b]) for b in tss)})"
             if kept is not None else "")
    return (f"{', '.join(map(str, tss))}{where}: what `run` and the API average by "
            "default")


def _pieces(path: Path, meta: ModelMetadata) -> dict[str, Any] | None:
    """The incremental pieces beside an export, each with its sha256 checked."""
    if not meta.incremental:
        return None
    from creme_fast.runtime.checksum import file_sha256

    out: dict[str, Any] = {"geometry": meta.incremental["geometry"],
                           "flops": meta.incremental.get("flops", {})}
    for name in ("trunk", "tower"):
        piece = path.parent / meta.incremental[name]["file"]
        ok = piece.is_file() and file_sha256(piece) == meta.incremental[name]["sha256"]
        out[name] = {"file": str(piece), "ok": ok}
    return out


def run(args: argparse.Namespace) -> int:
    report: dict[str, Any] = {"versions": _versions(), "onnxruntime_providers": _providers(),
                              "gpus": _gpus()}
    if args.model:
        report["model"] = model_info(_model_path(args.model))
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return 0
    lines = ["creme-fast environment"]
    lines += [f"  {k:18s} {v}" for k, v in report["versions"].items()]
    lines.append(f"  providers          {', '.join(report['onnxruntime_providers']) or 'none'}")
    lines.append(f"  GPUs               {', '.join(report['gpus']) or 'none visible'}")
    if args.model:
        info = report["model"]
        meta = info["creme_fast_metadata"]
        lines.append(f"model {info['path']}")
        if meta is None:
            lines.append("  no creme-fast metadata (not written by creme-fast export)")
        else:
            for key in ("model", "head", "seq_length", "input_kind", "input_dtype", "dtype",
                        "n_bins", "n_tracks", "bins", "bin_reduce"):
                lines.append(f"  {key:18s} {meta[key]}")
            lines.append(f"  {'tracks':18s} {_tracks_line(info['tracks'])}")
            lines.append(f"  {'TSS bins':18s} {_bins_line(meta, info['tss_bins'])}")
            lines.append(f"  {'verification':18s} max abs {meta['verification'].get('max_abs')}"
                         f", max rel {meta['verification'].get('max_rel')}")
            precision = meta.get("extra", {}).get("precision")
            lines.append(f"  {'precision':18s} {describe_precision(precision)}")
            extra = meta.get("extra", {})
            if "architecture" in extra:
                lines.append(f"  {'architecture':18s} {extra['architecture']}")
            if "tss_bins" in extra:
                lines.append(f"  {'TSS bins':18s} {extra['tss_bins']} (positions in the "
                             "output: run's default --bins)")
            positional = meta.get("extra", {}).get("positional_features")
            if positional:
                lines.append(f"  {'gammas':18s} "
                             + ("TensorFlow's (enformer-pytorch's TF gammas)"
                                if positional["tf_gamma"] else "computed by PyTorch")
                             + f": {positional['reason']}")
            state = {True: "ok (every tensor and node)", False: "MISMATCH",
                     None: "not checked (onnx not installed)"}
            if meta.get("checksum_version", 1) < 2:
                state[True] = ("ok, initializers only (an export from before the checksum "
                               "covered Constant values: re-export it to cover them)")
            lines.append(f"  {'weights checksum':18s} {state[info['checksum_ok']]}")
            pieces = info["pieces"]
            if pieces is None:
                lines.append(f"  {'incremental':18s} no (full passes only)")
            else:
                g = pieces["geometry"]
                lines.append(f"  {'incremental':18s} trunk rows of {g['stride']} bp, halo "
                             f"{g['left']}/{g['right']} bp, {g['rows']} rows x "
                             f"{g['channels']} channels")
                flops = pieces["flops"]
                if flops:
                    lines.append(f"  {'FLOPs':18s} trunk {flops['trunk'] / 1e9:.3g} G "
                                 f"({flops['trunk_per_bp'] / 1e3:.3g} k per bp), tower "
                                 f"{flops['tower'] / 1e9:.3g} G")
                for name in ("trunk", "tower"):
                    lines.append(f"  {name + ' graph':18s} {pieces[name]['file']} "
                                 f"({'ok' if pieces[name]['ok'] else 'MISSING OR MISMATCH'})")
            lines.append(f"  {'exported with':18s} "
                         + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    sys.stdout.write("\n".join(lines) + "\n")
    if not args.model:
        return 0
    pieces = report["model"].get("pieces") or {}
    broken = any(not pieces[name]["ok"] for name in ("trunk", "tower") if name in pieces)
    return 1 if report["model"].get("checksum_ok") is False or broken else 0
