"""The exported transformer: MatMul attention, and the last layer only on the rows read."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from creme_fast.export import export_enformer
from creme_fast.export.attention import kept_rows
from creme_fast.export.flops import count_flops
from creme_fast.export.modules import EnformerBody
from enformer_fixtures import SMALL, input_spread, make_small_enformer

from creme_fast.runtime import OnnxPredictor

L = 2048  # 16 trunk rows, cropped to 8 bins


@pytest.fixture(scope="module")
def enformer():
    # two layers, so a full layer runs before the row-pruned last one
    return make_small_enformer(hparams={**SMALL, "depth": 2})


@pytest.fixture(scope="module")
def rows(enformer):
    torch.manual_seed(1)
    return torch.randn(3, L // 128, enformer.config.dim)


def test_kept_rows_follow_the_crop():
    assert kept_rows(32, 8, [0, 7]) == [12, 19]
    assert kept_rows(32, -1, [5]) == [5]
    assert kept_rows(32, 8, None) is None


@pytest.mark.parametrize("bins", [None, [0, 7], [3, 4], list(range(8))])
def test_export_transformer_equals_enformer_pytorch(enformer, rows, bins):
    reference = EnformerBody(enformer, "human", bins=bins).eval()
    fast = EnformerBody(enformer, "human", bins=bins, export_tower=True).eval()
    with torch.no_grad():
        want = reference.tower(rows).numpy()
        other = reference.tower(rows.flip(1)).numpy()
        got = fast.tower(rows).numpy()
    assert input_spread(want, other) > 1e-2  # an equality that can fail
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def exports(enformer, tmp_path_factory):
    root = tmp_path_factory.mktemp("tower")
    out = {}
    for name, bins in (("pruned", [3, 4]), ("all", None)):
        out[name] = root / f"{name}.onnx"
        export_enformer(enformer, out[name], seq_length=L, tracks=[1, 5], bins=bins,
                        input_kind="tokens")
    return out


def _ops(path):
    return [node.op_type for node in onnx.load(str(path)).graph.node]


def _float_concats(path):
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    types = {v.name: v.type.tensor_type.elem_type for v in
             (*model.graph.value_info, *model.graph.output)}
    return [node.name for node in model.graph.node if node.op_type == "Concat"
            and types.get(node.output[0]) != onnx.TensorProto.INT64]


def test_graphs_use_matmul_not_einsum_or_logit_concat(exports):
    # ORT's CPU Einsum and the Concat that padded the (B, heads, n, 2n-1) logits were
    # what made the tower slower per sequence at batch 8 than at batch 1
    for path in exports.values():
        for graph in (path, path.with_suffix(".tower.onnx")):
            ops = _ops(graph)
            assert "Einsum" not in ops, graph
            assert "MatMul" in ops
            assert not _float_concats(graph), graph  # only shape arithmetic is concatenated


def test_last_layer_pruned_to_the_read_rows(exports):
    rows = L // 128
    dim = SMALL["dim"]
    shape = {"rows": (1, rows, dim)}
    pruned = count_flops(exports["pruned"].with_suffix(".tower.onnx"), shape)["total"]
    full = count_flops(exports["all"].with_suffix(".tower.onnx"), shape)["total"]
    # the last layer's q projection (dim x 32), attention (2 heads x 16 + 48), out
    # projection and feed-forward (2 x dim x 2 dim) drop from 32 rows to 2; the full
    # export also runs final pointwise and the head on 8 bins instead of 2
    assert pruned < full
    per_row_last = 2 * (dim * 32 + 2 * rows * (16 + 16) + 2 * rows * 48 + dim * dim
                        + 2 * dim * 2 * dim)
    assert full - pruned >= 0.9 * (rows - 2) * per_row_last


def test_pruned_export_runs_any_batch_equal_to_pytorch(enformer, exports):
    from enformer_fixtures import torch_reference

    tokens = np.random.default_rng(5).integers(0, 4, size=(9, L), dtype=np.uint8)
    want = torch_reference(enformer, tokens, tracks=[1, 5], bins=[3, 4])
    assert input_spread(want[0], want[1]) > 1e-2
    predictor = OnnxPredictor(exports["pruned"], threads=1)
    for batch in (1, 8):
        got = np.concatenate([predictor.predict(tokens[i:i + batch])
                              for i in range(0, len(tokens), batch)])
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    inc = predictor.incremental
    rows = inc.trunk(tokens)
    np.testing.assert_allclose(inc.tower(rows), want, rtol=1e-4, atol=1e-5)


def test_pieces_sessions_run_without_memory_pattern(exports):
    # with ORT's memory pattern a batch of 8 tower rows ran 1.3x slower per row than
    # batch 1; the pieces see a new shape on nearly every call
    inc = OnnxPredictor(exports["pruned"], threads=1).incremental
    for session in (inc._trunk, inc._tower):
        assert session.get_session_options().enable_mem_pattern is False


# --- reduced precision ---------------------------------------------------------------

def test_bf16_refused_with_the_reason():
    from creme_fast.export.precision import check_precision

    with pytest.raises(ValueError, match="bf16.*no speed-up"):
        check_precision("bf16")
    with pytest.raises(ValueError, match="precision must be one of"):
        check_precision("fp8")


def test_gate_sees_a_model_that_changes_answers(exports):
    from creme_fast.export.precision import calibration_loci, gate_figures, gate_passes
    from creme_fast.runtime import CallablePredictor

    reference = OnnxPredictor(exports["all"], threads=1, incremental=False)
    loci = calibration_loci(L, 2)
    same = gate_figures(reference, reference, loci)
    assert set(same) == {"full", "context"}
    assert all(g["max_abs_effect_diff"] == 0 and g["flips"] == 0 for g in same.values())
    assert same["full"]["max_abs_effect"] > 1e-3  # effects to compare
    assert same["context"]["max_abs_effect"] > 1e-3 and same["context"]["pairs"] == 2 * 2
    assert gate_passes(same, 0.999)

    rng = np.random.default_rng(0)

    def noisy(batch):  # a "reduced" model that scrambles the answers
        out = reference.predict(batch)
        return out * rng.uniform(0.2, 2.0, size=out.shape).astype(np.float32)

    bad = gate_figures(reference, CallablePredictor(noisy, seq_length=L, input_kind="tokens"),
                       loci)
    assert bad["full"]["flips"] > 0 and bad["full"]["min_spearman"] < 0.999
    assert bad["context"]["max_abs_effect_diff"] > 0
    assert not gate_passes(bad, 0.999)


def test_gate_counts_context_category_flips_at_the_papers_thresholds():
    from creme_fast.export.precision import compare_context, gate_passes
    from creme_fast.runtime.metadata import describe_gate

    want = np.array([[0.97, 0.0], [-0.5, 0.5]])  # enhancing, neutral / silencing, other
    got = np.array([[0.94, 0.01], [-0.5, 0.6]])  # other (a flip), neutral / silencing, other
    figures = compare_context(want, got)
    assert figures["flips"] == 1 and figures["pairs"] == 4
    assert figures["max_abs_effect_diff"] == pytest.approx(0.1)
    necessity = {"max_abs_effect_diff": 0.0, "max_abs_effect": 0.5, "spearman": [1.0, 1.0],
                 "min_spearman": 1.0, "flips": 0, "tiles": 10}
    assert gate_passes({"full": necessity, "context": compare_context(want, want)}, 0.999)
    assert not gate_passes({"full": necessity, "context": figures}, 0.999)
    text = describe_gate({"full": necessity, "context": figures})
    assert "0 of 20 tile categories" in text and "1 of 4 locus-track categories" in text


def test_int8_export_gated_recorded_and_shown(exports, tmp_path, capsys):
    import onnx

    from creme_fast.cli import main
    from creme_fast.export import ExportError
    from creme_fast.export.incremental import piece_paths
    from creme_fast.export.precision import calibration_loci, gate_passes, reduce_export

    loci = calibration_loci(L, 2)
    forced = tmp_path / "forced.onnx"
    entry = reduce_export(exports["pruned"], forced, "int8", loci=loci, force=True)
    assert set(entry["gate"]) == {"full", "incremental", "context"}
    assert entry["passed"] == gate_passes(entry["gate"], 0.999)
    assert entry["forced"] == (not entry["passed"])
    for path in (forced, piece_paths(forced)[1]):
        assert "MatMulInteger" in _ops(path)
    predictor = OnnxPredictor(forced, threads=1)
    assert predictor.metadata.extra["precision"]["format"] == "int8"
    predictor.incremental  # pieces' sha256 recorded for the int8 tower
    assert main(["info", str(forced)]) == 0
    assert "int8 (" in capsys.readouterr().out
    from creme_fast.cli.info_cmd import model_info

    info = model_info(forced)
    assert info["checksum_ok"] is True and info["pieces"]["tower"]["ok"]

    gated = tmp_path / "gated.onnx"
    if entry["passed"]:
        reduce_export(exports["pruned"], gated, "int8", loci=loci)
        assert gated.is_file()
    else:
        with pytest.raises(ExportError, match="fails its fidelity gate.*Spearman"):
            reduce_export(exports["pruned"], gated, "int8", loci=loci)
        assert not gated.exists() and not piece_paths(gated)[1].exists()
    assert not list(tmp_path.glob(".*"))  # no scratch left behind


def test_int8_without_its_gate_is_marked_and_shown(exports, tmp_path, capsys):
    from creme_fast.cli import main
    from creme_fast.export.precision import reduce_export
    from creme_fast.runtime.metadata import describe_precision

    out = tmp_path / "nogate.onnx"
    entry = reduce_export(exports["pruned"], out, "int8",
                          loci=np.zeros((0, L), dtype=np.uint8), run_gate=False)
    assert entry["gate"] == {} and entry["gate_run"] is False and entry["passed"] is False
    assert "GATE NOT RUN" in describe_precision(entry)
    assert main(["info", str(out)]) == 0
    assert "GATE NOT RUN" in capsys.readouterr().out
