"""The CPU a figure was measured on: model, cores, threads per core and vector extensions.

Speed on a CPU depends on the machine more than on anything creme-fast sets:
the same export ran 2.7x faster than PyTorch on one 2-core VM and 1.3-1.5x on
another (benchmarks/RESULTS.md, issue 33). Every benchmark figure therefore
carries :func:`describe_cpu`'s one line. Linux only reads ``/proc/cpuinfo``;
elsewhere the description says what it could not read.
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CpuInfo", "cpu_info", "describe_cpu", "steal_ticks"]

#: /proc/cpuinfo flags that decide which kernels ONNX Runtime and PyTorch run,
#: with the names this module prints
VECTOR_FLAGS = {"avx2": "AVX2", "fma": "FMA", "f16c": "F16C", "avx512f": "AVX-512F",
                "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI",
                "avx512_bf16": "AVX-512 BF16", "amx_tile": "AMX"}


@dataclass(frozen=True)
class CpuInfo:
    """What ``/proc/cpuinfo`` and the scheduler say about this machine's CPU.

    Attributes
    ----------
    model : str
        ``model name`` (e.g. "AMD EPYC 7763 64-Core Processor"; VMs often say less).
    vendor, family, model_number : str
        ``vendor_id``, ``cpu family`` and ``model`` (the microarchitecture when the
        name is generic).
    logical_cpus : int
        CPUs this process may run on (its affinity mask).
    threads_per_core : int
        Hardware threads per core (2: SMT/hyper-threading; ONNX Runtime's default
        thread count is the number of physical cores).
    flags : tuple of str
        The :data:`VECTOR_FLAGS` present, by their printed names.
    virtual : bool
        The ``hypervisor`` flag: a VM, whose vCPUs may be stolen by its host.
    """

    model: str
    vendor: str = ""
    family: str = ""
    model_number: str = ""
    logical_cpus: int = 1
    threads_per_core: int = 1
    flags: tuple[str, ...] = field(default_factory=tuple)
    virtual: bool = False

    @property
    def physical_cores(self) -> int:
        return max(1, self.logical_cpus // max(1, self.threads_per_core))

    def as_dict(self) -> dict[str, object]:
        return {"model": self.model, "vendor": self.vendor, "family": self.family,
                "model_number": self.model_number, "logical_cpus": self.logical_cpus,
                "threads_per_core": self.threads_per_core,
                "physical_cores": self.physical_cores, "flags": list(self.flags),
                "virtual": self.virtual, "summary": describe_cpu(self)}


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _threads_per_core(text: str) -> int:
    """From the first processor's ``siblings`` / ``cpu cores`` (1 when absent)."""
    fields = _first_block(text)
    try:
        return max(1, int(fields["siblings"]) // max(1, int(fields["cpu cores"])))
    except (KeyError, ValueError):
        return 1


def _first_block(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_info(cpuinfo: str | Path = "/proc/cpuinfo") -> CpuInfo:
    """Read the CPU's description (``/proc/cpuinfo`` on Linux).

    Parameters
    ----------
    cpuinfo : str or pathlib.Path, default="/proc/cpuinfo"

    Returns
    -------
    CpuInfo
        On a system without the file: the platform's processor string and no flags.
    """
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return CpuInfo(model=platform.processor() or platform.machine() or "unknown CPU",
                       logical_cpus=_usable_cpus())
    fields = _first_block(text)
    present = set(fields.get("flags", "").split())
    return CpuInfo(model=fields.get("model name", platform.processor() or "unknown CPU"),
                   vendor=fields.get("vendor_id", ""), family=fields.get("cpu family", ""),
                   model_number=fields.get("model", ""), logical_cpus=_usable_cpus(),
                   threads_per_core=_threads_per_core(text),
                   flags=tuple(name for flag, name in VECTOR_FLAGS.items() if flag in present),
                   virtual="hypervisor" in present)


def describe_cpu(info: CpuInfo | None = None) -> str:
    """One line for a figure: model, family/model, CPUs and cores, vector extensions.

    Examples
    --------
    >>> describe_cpu(CpuInfo("AMD EPYC", "AuthenticAMD", "25", "1", 2, 2, ("AVX2", "FMA"),
    ...                      True))
    'AMD EPYC (family 25 model 1), 2 CPUs = 1 core x 2 threads, VM; AVX2 FMA; no AVX-512'
    """
    info = cpu_info() if info is None else info
    ident = f" (family {info.family} model {info.model_number})" if info.family else ""
    cores = ("core" if info.physical_cores == 1 else "cores")
    topology = (f"{info.logical_cpus} CPUs = {info.physical_cores} {cores} x "
                f"{info.threads_per_core} threads" if info.threads_per_core > 1
                else f"{info.logical_cpus} CPUs, 1 thread per core")
    flags = " ".join(info.flags) if info.flags else "no AVX2"
    if info.flags and "AVX-512F" not in info.flags:
        flags += "; no AVX-512"
    return f"{info.model}{ident}, {topology}{', VM' if info.virtual else ''}; {flags}"


def steal_ticks(stat: str | Path = "/proc/stat") -> tuple[int, int] | None:
    """``(steal, total)`` clock ticks of all CPUs so far (None where unreadable).

    A VM's host may run other guests on its vCPUs; the ticks it took ("steal")
    slow every kernel down without showing in the guest's own load. The
    difference of two readings is the fraction stolen during a measurement.
    """
    try:
        first = Path(stat).read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu" or len(first) < 9:
        return None
    ticks = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    return ticks[7], sum(ticks)
