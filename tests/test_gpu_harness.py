"""The prepared GPU run (benchmarks/gpu/) kept from rotting: its dry run takes every stage
on the CPU provider with tiny models, and its pieces are packed and joined as on the
device."""
from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GPU = ROOT / "benchmarks" / "gpu"


def _run(script: str, *args: str, env: dict[str, str], timeout: int = 900):
    return subprocess.run(["bash", str(GPU / script), *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHON": sys.executable, **env}, timeout=timeout)


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "gpu.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _value(rows, stage, metric, config_part=""):
    hits = [r for r in rows if r["stage"] == stage and r["metric"] == metric
            and config_part in r["config"]]
    assert hits, (stage, metric, config_part)
    return hits


def test_dry_run_takes_every_stage(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    proc = _run("run.sh", "--dry-run", env={"OUT": str(out), "WORK": str(work),
                                             "PIECES": str(tmp_path / "none")})
    log = (out / "gpu.log").read_text()
    assert proc.returncode == 0, log[-3000:]
    for stage in ("a", "b-export", "b", "c", "d"):
        assert f"stage {stage} done" in log, log[-3000:]
    rows = _rows(out)
    assert {r["stage"] for r in rows} == {"a", "b-export", "b", "c", "d"}
    # a: the fidelity and equality checks ran and held
    assert float(_value(rows, "a", "input_spread")[0]["value"]) > 1e-2
    fidelity = _value(rows, "a", "ort_fp32_vs_torch_max_rel")[0]
    assert float(fidelity["value"]) <= 1e-4 and fidelity["note"].startswith("PASS")
    assert float(_value(rows, "a", "incremental_vs_full_max_rel")[0]["value"]) <= 1e-4
    assert _value(rows, "a", "auto_provider")[0]["value"] == "CPUExecutionProvider"
    # b: every configuration left a figure or the reason it has none
    for config in ("ORT cpu fp32", "PyTorch cpu bf16 autocast", "ORT cpu fp16",
                   "PyTorch cpu fp32 eager"):
        rates = _value(rows, "b", "seqs_per_s", config)
        assert [r["batch"] for r in rates] == ["1", "2"] and all(
            float(r["value"]) > 0 for r in rates)
    assert "CUDA provider" in _value(rows, "b", "cuda_graph_refused")[0]["note"]
    assert "Conv(22)" in _value(rows, "b", "load_failed", "bf16")[0]["note"]
    # c: both pipeline paths and creme-nn's way
    rates = _value(rows, "c", "mutants_per_s")
    assert len(rates) == 4 and all(float(r["value"]) > 0 for r in rates)
    assert all(0 < float(r["value"]) <= 1 for r in _value(rows, "c", "model_busy_fraction"))
    # d: the fp16 gate's figures; bf16 refused here with its reason
    assert _value(rows, "d", "gate_min_spearman", "fp16 full")
    assert "bf16" in _value(rows, "d", "gate_not_run", "bf16")[0]["note"]


def test_pieces_are_packed_and_joined_as_on_the_device(tmp_path):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    for name in ("onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl",
                 "transformers-4.56.2-py3-none-any.whl"):
        (wheels / name).write_bytes(os.urandom(1_500_000))
    root = tmp_path / "repo"
    root.mkdir()
    proc = _run("carry.sh", "--wheels-from", str(wheels),
                env={"CARRY_ROOT": str(root), "PIECE_MIB": "1"})
    assert proc.returncode == 0, proc.stderr
    folders = sorted(root.glob(".w*"))
    assert [f.name for f in folders] == [".w1", ".w2", ".w3"]
    sizes = [sum(p.stat().st_size for p in f.iterdir()) for f in folders]
    assert max(sizes) <= 2**20 and "in 3 pieces" in proc.stdout

    pieces = tmp_path / "device-w"  # the device calls: cp .wK/* /tmp/w/, one per call
    pieces.mkdir()
    for folder in folders:
        for part in folder.iterdir():
            (pieces / part.name).write_bytes(part.read_bytes())
    env = {"OUT": str(tmp_path / "out"), "WORK": str(tmp_path / "work"),
           "PIECES": str(pieces), "LIMITS": ""}
    proc = _run("run.sh", "--dry-run", env=env)
    log = (tmp_path / "out" / "gpu.log").read_text()
    assert proc.returncode == 0, log
    assert "pieces joined: 2 wheels, checksums match" in log
    for name in ("onnxruntime_gpu-1.31.1-cp312-cp312-manylinux_2_28_x86_64.whl",
                 "transformers-4.56.2-py3-none-any.whl"):
        assert (pieces / "wheels" / name).read_bytes() == (wheels / name).read_bytes()

    first = sorted(pieces.glob("part.*"))[0]  # a piece damaged on the way
    data = bytearray(first.read_bytes())
    data[600_000:600_010] = bytes(b ^ 0xFF for b in data[600_000:600_010])
    first.write_bytes(bytes(data))
    proc = _run("run.sh", "--dry-run", env=env)
    assert proc.returncode == 2
    assert "differs from its checksum" in (tmp_path / "out" / "gpu.log").read_text()


@pytest.mark.parametrize("script", ["run.sh", "carry.sh"])
def test_unknown_options_are_refused(script, tmp_path):
    proc = _run(script, "--fast", env={"OUT": str(tmp_path)})
    assert proc.returncode == 2 and "unknown option --fast" in proc.stderr
