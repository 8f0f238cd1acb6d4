"""``creme-fast bench`` on the engine alone and on an exported model."""
import json

import torch

from creme_fast.cli import main


def test_bench_engine_alone(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = main(["bench", "--model", "none", "--seq-length", "20000", "--tile-size", "2000",
                 "--shuffles", "2", "--repeats", "1", "--batch-sizes", "4", "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    kinds = {g["input"] for g in report["generation"]}
    assert kinds == {"onehot/float32", "tokens/uint8"}
    assert all(g["mutants"] == 1 + 8 * 2 and g["mutants_per_s"] > 0 for g in report["generation"])
    assert "mutants/s" in capsys.readouterr().out


class Pool(torch.nn.Module):
    def forward(self, x):
        return torch.nn.functional.avg_pool1d(x.transpose(1, 2), 500).transpose(1, 2)


def test_bench_with_a_model(tmp_path, capsys):
    from creme_fast.export import export_module

    model = tmp_path / "pool.onnx"
    export_module(Pool(), model, seq_length=20000)
    out = tmp_path / "bench.json"
    code = main(["bench", "--model", str(model), "--tile-size", "2000", "--shuffles", "2",
                 "--repeats", "1", "--batch-sizes", "1,4", "--test", "context",
                 "--out", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    assert [t["batch_size"] for t in report["throughput"]] == [1, 4]
    assert report["end_to_end"]["mutants"] == 3
    assert 0 < report["end_to_end"]["pipeline_efficiency"] <= 1
    assert "CPUExecutionProvider" in capsys.readouterr().out


def test_bench_estimates_shows_progress_and_recommends(tmp_path, capsys):
    """Issue 20: bench on a big export was silent for 15 minutes."""
    out, log = tmp_path / "bench.json", tmp_path / "bench.log"
    code = main(["bench", "--model", "synthetic", "--tile-size", "50000", "--shuffles", "1",
                 "--repeats", "1", "--batch-sizes", "1,2", "--out", str(out),
                 "--log-file", str(log), "--progress-interval", "0"])
    assert code == 0
    report = json.loads(out.read_text())
    passes = report["estimate"]["passes"]
    # a warm-up and one timed batch per size, then the test end to end
    assert passes == (1 + 1) * 1 + (1 + 1) * 2 + report["end_to_end"]["mutants"]
    assert report["estimate"]["total_s"] > 0
    assert report["recommended_batch_size"] in (1, 2)
    text = log.read_text()
    first = text.index("this bench makes about")
    progress = [ln for ln in text.splitlines() if "creme_fast.progress" in ln]
    assert progress and text.index("creme_fast.progress") > first  # the estimate comes first
    assert f"{passes}/{passes} mutants" in progress[-1]
    assert f"recommended: --batch-size {report['recommended_batch_size']}" in \
        capsys.readouterr().out
