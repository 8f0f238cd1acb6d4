"""The model's working memory, measured at export, counts in the batch budget."""
from __future__ import annotations

import json
import shutil

import numpy as np
import onnx
import pytest
from enformer_fixtures import SEQ_LENGTH, make_small_enformer
from genome_fixtures import make_genome, write_tss

from creme_fast import assays
from creme_fast.cli import main
from creme_fast.export import export_enformer
from creme_fast.pipeline.memory import BatchCost, fit_batch, model_working_bytes
from creme_fast.runtime import OnnxPredictor
from creme_fast.runtime.metadata import METADATA_KEY
from creme_fast.synthetic.model import synthetic_model_path

GIB = 1 << 30


def _with_working_memory(tmp_path, per_sequence: int, fixed: int = 0):
    """The synthetic export, its metadata saying the model needs this much per sequence."""
    path = tmp_path / "heavy.onnx"
    shutil.copy(synthetic_model_path(), path)
    model = onnx.load(str(path))
    prop = next(p for p in model.metadata_props if p.key == METADATA_KEY)
    meta = json.loads(prop.value)
    meta["extra"]["working_memory"] = {"full": {"batch_1": fixed + per_sequence,
                                                "batch_2": fixed + 2 * per_sequence,
                                                "fixed": fixed, "per_sequence": per_sequence}}
    prop.value = json.dumps(meta)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    directory = tmp_path_factory.mktemp("genome")
    path, _ = make_genome(directory)
    return path, write_tss(directory)


def _run(genome, model, out, *extra):
    fasta, tss = genome
    return main(["run", "activity", "--model", str(model), "--fasta", str(fasta), "--tss",
                 str(tss), "--out", str(out), "--tile-size", "20000", "--shuffles", "2",
                 *extra])


def test_export_records_working_memory_of_every_graph(tmp_path):
    result = export_enformer(make_small_enformer(), tmp_path / "m.onnx", seq_length=SEQ_LENGTH)
    memory = result.metadata.extra["working_memory"]
    assert "ONNX Runtime" in memory["method"]
    for graph in ("full", "tower"):
        entry = memory[graph]
        assert entry["batch_2"] >= 0 and entry["per_sequence"] >= 0
        assert entry["fixed"] + entry["per_sequence"] <= max(entry["batch_1"], 0) + \
            entry["per_sequence"]
    assert memory["trunk"]["per_sequence"] == memory["trunk"]["batch_1"]
    predictor = OnnxPredictor(tmp_path / "m.onnx")
    assert model_working_bytes(predictor.metadata, False) == (memory["full"]["fixed"],
                                                             memory["full"]["per_sequence"])


def test_run_refuses_an_explicit_batch_over_budget_naming_the_largest(tmp_path, genome,
                                                                      caplog):
    heavy = _with_working_memory(tmp_path, per_sequence=GIB)
    out = tmp_path / "refused"
    assert _run(genome, heavy, out, "--batch-size", "8", "--max-batch-memory", "3G") == 2
    assert "--batch-size 8 needs 8.0 GiB of batch buffers and model working memory" in \
        caplog.text
    assert "1.0 GiB of it the model's as measured at export" in caplog.text
    assert "over --max-batch-memory 3G; the largest batch that fits is 2" in caplog.text
    assert not out.exists()


def test_run_without_batch_size_takes_the_largest_that_fits(tmp_path, genome, caplog):
    caplog.set_level("INFO", logger="creme_fast")
    heavy = _with_working_memory(tmp_path, per_sequence=GIB)
    out = tmp_path / "picked"
    assert _run(genome, heavy, out, "--max-batch-memory", "3G") == 0
    assert "batches of 8 would need" in caplog.text and "running batches of 2" in caplog.text
    assert "batches of 2: " in caplog.text and "of the model's working memory" in caplog.text


def test_the_api_counts_the_model_and_the_machine():
    from creme_fast.pipeline.memory import available_memory

    cost = BatchCost(fixed=GIB, per_sequence=GIB, model_per_sequence=GIB - 1024,
                     seq_length=1000)
    assert fit_batch(2, cost, 3 * GIB, explicit=True) == 2
    with pytest.raises(ValueError, match="batch_size 3 needs 4.0 GiB .* over max_batch_bytes "
                                         "3.0 GiB; the largest batch that fits is 2"):
        fit_batch(3, cost, 3 * GIB, explicit=True)
    assert fit_batch(8, cost, 3 * GIB, explicit=False) == 2
    with pytest.raises(ValueError, match="batch_size 1 needs 2.0 GiB"):
        fit_batch(1, cost, GIB, explicit=True)
    available = available_memory()
    assert available is not None  # Linux
    huge = BatchCost(fixed=0, per_sequence=available, model_per_sequence=available - 1,
                     seq_length=1000)
    with pytest.raises(ValueError, match="the machine's available memory"):
        fit_batch(2, huge, None, explicit=True)


def test_an_assay_on_an_export_charges_its_working_memory(tmp_path):
    heavy = OnnxPredictor(_with_working_memory(tmp_path, per_sequence=GIB))
    seq = np.zeros(heavy.seq_length, dtype=np.uint8)
    with pytest.raises(ValueError, match="batch_size 4 needs .* the largest batch that fits "
                                         "is 1"):
        assays.context_dependence(heavy, seq, tss_tile=(1000, 2000), num_shuffles=3,
                                  verbose=False, batch_size=4, max_batch_bytes=GIB + GIB // 2)


def test_incremental_charge_adds_the_trunk_and_the_tower_and_covers_the_full_graph():
    # the published Enformer's measured lines (MiB): the pieces' sessions share one
    # arena, which keeps the trunk's blocks while the tower runs, so the charge for
    # batch B is at least trunk(1) + tower(B), and at least the full graph's
    from types import SimpleNamespace

    mib = 1 << 20
    lines = {"full": (1, 1736), "trunk": (0, 1736), "tower": (254, 262)}
    meta = SimpleNamespace(extra={"working_memory": {
        g: {"fixed": f * mib, "per_sequence": p * mib} for g, (f, p) in lines.items()}})
    fixed, per = model_working_bytes(meta, "auto")
    for batch in (1, 2, 8):
        charge = fixed + batch * per
        full = (lines["full"][0] + batch * lines["full"][1]) * mib
        pieces = (1736 + 254 + batch * 262) * mib
        assert charge >= max(full, pieces)
    assert fixed + per == (1736 + 254 + 262) * mib  # tight at batch 1
    assert model_working_bytes(meta, False) == (1 * mib, 1736 * mib)
    # without pieces measured: the full graph's line alone
    only_full = SimpleNamespace(extra={"working_memory": {"full": {"fixed": 0,
                                                                    "per_sequence": mib}}})
    assert model_working_bytes(only_full, "auto") == (0, mib)
