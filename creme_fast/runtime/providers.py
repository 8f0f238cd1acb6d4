"""Choosing ONNX Runtime execution providers: TensorRT > CUDA > CPU."""
from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
PREFERENCE = (TENSORRT, CUDA, CPU)
ALIASES = {"tensorrt": TENSORRT, "trt": TENSORRT, "cuda": CUDA, "gpu": CUDA, "cpu": CPU}

__all__ = ["ALIASES", "CPU", "CUDA", "GPU_PROVIDERS", "PREFERENCE", "TENSORRT",
           "provider_options", "resolve_providers", "skipped_providers"]

GPU_PROVIDERS = (TENSORRT, CUDA)
#: What each GPU provider loads when a session starts (ONNX Runtime 1.31's GPU build).
_LIBRARIES = {TENSORRT: "TensorRT 10 (libnvinfer.so.10), CUDA 12/13 and cuDNN 9",
              CUDA: "CUDA (libcudart, libcublas) and cuDNN 9 of the version the build names"}


def resolve_providers(requested: str | Sequence[str] | None,
                      available: Sequence[str]) -> tuple[list[str], bool]:
    """Providers to ask ONNX Runtime for, best first.

    Parameters
    ----------
    requested : str, sequence of str, or None
        None or ``"auto"``: every provider of TensorRT, CUDA, CPU that is
        available. Otherwise names or aliases (``"tensorrt"``, ``"cuda"``,
        ``"cpu"``), comma-separated or as a sequence, in order of preference.
    available : sequence of str
        ``onnxruntime.get_available_providers()``.

    Returns
    -------
    providers : list of str
        CPU is always appended last, so nodes a GPU provider cannot run still run.
    explicit : bool
        Whether the user named the providers (then falling back is an error).

    Raises
    ------
    ValueError
        A named provider is unknown or not offered by the installed onnxruntime.
    """
    if requested is None or requested == "auto":
        chosen = [p for p in PREFERENCE if p in available]
        return (chosen if CPU in chosen else chosen + [CPU]), False
    names = requested.split(",") if isinstance(requested, str) else list(requested)
    chosen: list[str] = []
    for raw in names:
        name = ALIASES.get(raw.strip().lower(), raw.strip())
        if name not in PREFERENCE and name not in available:
            raise ValueError(f"unknown execution provider {raw!r}; use one of "
                             f"{', '.join(sorted(ALIASES))} or a full ONNX Runtime name")
        if name not in available:
            hint = (" Install the GPU build: pip uninstall -y onnxruntime && "
                    "pip install onnxruntime-gpu" if name in (CUDA, TENSORRT) else "")
            raise ValueError(f"execution provider {name} was requested but this onnxruntime "
                             f"offers only {', '.join(available)}.{hint}")
        if name not in chosen:
            chosen.append(name)
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen, True


def provider_options(provider: str, *, device_id: int = 0, trt_cache_dir: str | Path | None = None,
                     trt_fp16: bool = False) -> dict[str, Any]:
    """ONNX Runtime options for one provider."""
    if provider == TENSORRT:
        options: dict[str, Any] = {"device_id": device_id, "trt_fp16_enable": bool(trt_fp16)}
        if trt_cache_dir is not None:
            Path(trt_cache_dir).mkdir(parents=True, exist_ok=True)
            options.update(trt_engine_cache_enable=True, trt_engine_cache_path=str(trt_cache_dir),
                           trt_timing_cache_enable=True)
        return options
    if provider == CUDA:
        return {"device_id": device_id}
    return {}


def _installed_build() -> str:
    """Which ONNX Runtime distribution is installed, for messages."""
    for name in ("onnxruntime-gpu", "onnxruntime"):
        try:
            return f"{name} {metadata.version(name)}"
        except metadata.PackageNotFoundError:
            continue
    return "onnxruntime"


def skipped_providers(available: Sequence[str], used: str) -> dict[str, tuple[str, bool]]:
    """Why ``auto`` runs on ``used`` and not on a better provider.

    Parameters
    ----------
    available : sequence of str
        ``onnxruntime.get_available_providers()``.
    used : str
        The provider the session runs on.

    Returns
    -------
    dict of str to (str, bool)
        For each provider of :data:`PREFERENCE` ranked above ``used``: the reason,
        and whether it is a fault (offered by the installed build, yet the session
        could not use it) rather than the build's choice.
    """
    out = {}
    for name in PREFERENCE:
        if name == used:
            break
        if name not in available:
            out[name] = (f"not in the installed {_installed_build()} (pip uninstall -y "
                         "onnxruntime && pip install onnxruntime-gpu for CUDA/TensorRT)", False)
        else:
            out[name] = (f"offered by {_installed_build()} but the session could not start it: "
                         f"it needs {_LIBRARIES.get(name, 'its libraries')} on the library path "
                         "(ONNX Runtime's own warning on stderr names the missing one; "
                         "onnxruntime.preload_dlls() loads CUDA and cuDNN from their pip "
                         "packages)", True)
    return out
