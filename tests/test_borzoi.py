"""Borzoi and Flashzoi (issue 31): one environment, the export, incremental evaluation, the tests.

Models are small and input-sensitive (``borzoi_fixtures``): every equality below is
preceded by an assertion that the outputs depend on the input (and, for the
transformer, on sequence far from the bins read), so an equality could fail.
"""
from __future__ import annotations

import json
from importlib import metadata

import numpy as np
import pytest
import torch
from borzoi_fixtures import (
    N_MOUSE,
    SEQ_LENGTH,
    SMALL,
    SMALL_FLASH,
    borzoi_reference,
    input_spread,
    make_small_borzoi,
)
from enformer_fixtures import make_small_enformer

from creme_fast import assays
from creme_fast.cli import main
from creme_fast.export import export_enformer
from creme_fast.export.models.borzoi import (
    BorzoiBody,
    ExportRotaryAttention,
    FlashzoiAttention,
    export_borzoi,
    load_borzoi,
    output_bins,
    tss_bins,
)
from creme_fast.pipeline import PipelineStats
from creme_fast.runtime import OnnxPredictor
from creme_fast.runtime.geometry import compose_layers
from creme_fast.sequence import one_hot

L = SEQ_LENGTH
N_BINS = 128  # SMALL's bins_to_return
TSS_BINS = tss_bins(N_BINS)  # 60 .. 67
TRACKS = [3, 1, 7]
RTOL = 1e-5
FAMILIES = {"borzoi": SMALL, "flashzoi": SMALL_FLASH}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request):
    return request.param, make_small_borzoi(0, FAMILIES[request.param])


@pytest.fixture(scope="module")
def loci():
    return np.random.default_rng(5).integers(0, 4, size=(3, L), dtype=np.uint8)


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """One export per family (TSS bins, three tracks, token input) and an Enformer's."""
    root = tmp_path_factory.mktemp("borzoi")
    out = {}
    for name, settings in FAMILIES.items():
        out[name] = root / f"{name}.onnx"
        export_borzoi(make_small_borzoi(0, settings), out[name], seq_length=L, tracks=TRACKS,
                      bins=TSS_BINS, input_kind="tokens")
    out["enformer"] = root / "enformer.onnx"
    export_enformer(make_small_enformer(), out["enformer"], seq_length=2048, tracks=[1, 5],
                    input_kind="tokens")
    return out


def far_effect(model, tokens, bins=TSS_BINS):
    """Relative change at ``bins`` when the first 512 bp change: the transformer's reach."""
    mutant = tokens.copy()
    mutant[:, :512] = (mutant[:, :512] + 1) % 4
    a = borzoi_reference(model, tokens[:1], bins=bins)
    b = borzoi_reference(model, mutant[:1], bins=bins)
    return float(np.abs(a - b).max() / np.abs(a).max())


# ---------------------------------------------------------------- one environment

def test_borzoi_and_enformer_load_run_and_export_in_one_process(exports, loci):
    """borzoi-pytorch (pinning transformers>=4.57.6) beside enformer-pytorch (==4.56.2):
    both import, build, run and export under the one transformers installed."""
    import borzoi_pytorch
    import enformer_pytorch
    import transformers

    assert transformers.__version__ == metadata.version("transformers")
    assert "Borzoi" in dir(borzoi_pytorch) and "Enformer" in dir(enformer_pytorch)
    enformer = make_small_enformer()
    borzoi = make_small_borzoi()
    assert isinstance(borzoi, transformers.PreTrainedModel)
    assert isinstance(enformer, transformers.PreTrainedModel)
    with torch.no_grad():
        assert enformer(torch.zeros(1, 2048, 4))["human"].shape[-1] == 16
    assert borzoi_reference(borzoi, loci[:1]).shape == (1, N_BINS, 12)
    preds = {name: OnnxPredictor(path) for name, path in exports.items()}
    assert preds["borzoi"].predict(loci[:2]).shape == (2, 8, 3)
    assert preds["enformer"].predict(loci[:2, :2048]).shape == (2, 8, 2)


# ---------------------------------------------------------------- the body and the export

def test_small_models_depend_on_their_input_near_and_far(family, loci):
    _, model = family
    ref = borzoi_reference(model, loci[:2])
    assert input_spread(ref[0], ref[1]) > 0.05
    # the transformer carries sequence 3 kb away: 20x the export's tolerance (1e-4)
    assert far_effect(model, loci) > 2e-3


@pytest.mark.parametrize("bins", [None, TSS_BINS, [0, 5, 127]])
def test_body_split_equals_borzoi_pytorch(family, loci, bins):
    """trunk + tower (borzoi-pytorch's modules) and the traced form (MatMul attention, last
    layer and upsampling on the kept bins' rows) equal Borzoi.forward."""
    _, model = family
    want = borzoi_reference(model, loci[:2], tracks=TRACKS, bins=bins)
    x = torch.from_numpy(one_hot(loci[:2]))
    for export_tower in (False, True):
        body = BorzoiBody(model, tracks=TRACKS, bins=bins, export_tower=export_tower)
        with torch.no_grad():
            np.testing.assert_allclose(body.tower(body.trunk(x)).numpy(), want, rtol=1e-4,
                                       atol=1e-6)
            np.testing.assert_allclose(body(x).numpy(), want, rtol=1e-4, atol=1e-6)


def test_export_equals_borzoi_pytorch_on_new_inputs(exports, loci):
    for name, settings in FAMILIES.items():
        model = make_small_borzoi(0, settings)
        predictor = OnnxPredictor(exports[name])
        meta = predictor.metadata
        assert meta.model == "borzoi" and meta.extra["architecture"] == name
        assert meta.extra["tss_bins"] == list(range(8)) and meta.bins == TSS_BINS
        assert meta.tracks == TRACKS and meta.checksum and meta.verification["n_failed"] == 0
        want = borzoi_reference(model, loci, tracks=TRACKS, bins=TSS_BINS)
        assert input_spread(want[0], want[1]) > 0.01
        np.testing.assert_allclose(predictor.predict(loci), want, rtol=1e-4, atol=1e-6)


def test_onehot_input_and_the_mouse_head(tmp_path, loci):
    settings = dict(SMALL, enable_mouse_head=True)
    model = make_small_borzoi(1, settings)
    out = tmp_path / "mouse.onnx"
    result = export_borzoi(model, out, seq_length=L, head="mouse", bins=[10, 64],
                           incremental=False)
    assert result.metadata.head == "mouse" and result.metadata.n_tracks == N_MOUSE
    assert "tss_bins" not in result.metadata.extra  # the kept bins miss the TSS bins
    want = borzoi_reference(model, loci[:2], bins=[10, 64], head="mouse")
    assert input_spread(want[0], want[1]) > 0.01
    np.testing.assert_allclose(OnnxPredictor(out).predict(one_hot(loci[:2])), want, rtol=1e-4,
                               atol=1e-6)
    with pytest.raises(ValueError, match="head 'mouse' not in"):
        export_borzoi(make_small_borzoi(), tmp_path / "x.onnx", seq_length=L, head="mouse")
    with pytest.raises(ValueError, match="bins index 128 is out of range"):
        export_borzoi(model, tmp_path / "x.onnx", seq_length=L, bins=[128])
    with pytest.raises(FileNotFoundError, match="the output folder .*absent does not exist"):
        export_borzoi(model, tmp_path / "absent" / "x.onnx", seq_length=L)
    with pytest.raises(ValueError, match="fewer than the model's bins_to_return"):
        export_borzoi(model, tmp_path / "x.onnx", seq_length=2048)
    assert not (tmp_path / "x.onnx").exists()


def test_trunk_receptive_field_is_tight(loci):
    """The derived halo is exact: a base just inside row r's field changes it, one outside
    does not (borzoi-pytorch shares one max pool between its blocks: each use counts)."""
    body = BorzoiBody(make_small_borzoi())
    stride, left, right = compose_layers(body.trunk_layers())
    assert stride == 128
    tokens = loci[:1, :4096]

    def rows(t):
        with torch.no_grad():
            return body.trunk(torch.from_numpy(one_hot(t))).numpy()[0]

    full = rows(tokens)
    r = 16
    for pos, inside in ((r * stride - left, True), (r * stride - left - 1, False),
                        ((r + 1) * stride + right - 1, True), ((r + 1) * stride + right, False)):
        mutant = tokens.copy()
        mutant[0, pos] = (mutant[0, pos] + 1) % 4
        assert (np.abs(rows(mutant)[r] - full[r]).max() > 0) == inside, pos


def test_flashzoi_attention_is_flash_attn_mha_written_out():
    """FlashzoiAttention and its MatMul form against flash-attn's MHA written in numpy,
    loop by loop: Wqkv = [q heads | k heads | v heads], rotary on the first 128 features
    of q and k (halves, base 20000), query head i reads key/value head i // 2."""
    torch.manual_seed(0)
    dim, heads, n = 256, 2, 6
    attention = FlashzoiAttention(dim, heads).eval()
    with torch.no_grad():
        for p in attention.parameters():
            p.normal_(0, 0.1)
    x = torch.randn(1, n, dim)
    w = attention.mha.Wqkv.weight.detach().numpy().astype(np.float64)
    bias = attention.mha.Wqkv.bias.detach().numpy().astype(np.float64)
    qkv = x[0].numpy().astype(np.float64) @ w.T + bias
    d = dim // heads
    q = qkv[:, :heads * d].reshape(n, heads, d)
    k = qkv[:, heads * d:heads * d + d].reshape(n, 1, d)
    v = qkv[:, heads * d + d:].reshape(n, 1, d)
    inv = 1.0 / 20000.0 ** (np.arange(0, 128, 2) / 128)

    def rotate(t):
        out = t.copy()
        for pos in range(n):
            angle = pos * inv
            a, b = t[pos, :, :64], t[pos, :, 64:128]
            out[pos, :, :64] = a * np.cos(angle) - b * np.sin(angle)
            out[pos, :, 64:128] = b * np.cos(angle) + a * np.sin(angle)
        return out

    q, k = rotate(q), rotate(k)
    context = np.empty((n, heads, d))
    for head in range(heads):
        logits = q[:, head] @ k[:, head // 2].T / np.sqrt(d)
        weights = np.exp(logits - logits.max(1, keepdims=True))
        context[:, head] = (weights / weights.sum(1, keepdims=True)) @ v[:, head // 2]
    want = context.reshape(n, dim) @ attention.mha.out_proj.weight.detach().numpy().T \
        + attention.mha.out_proj.bias.detach().numpy()
    assert np.abs(want).max() > 0.1
    with torch.no_grad():
        np.testing.assert_allclose(attention(x)[0].numpy(), want, rtol=1e-4, atol=1e-5)
        export = ExportRotaryAttention(attention)
        np.testing.assert_allclose(export(x)[0].numpy(), want, rtol=1e-4, atol=1e-5)
        rows = torch.tensor([1, 4])
        np.testing.assert_allclose(export(x, rows)[0].numpy(), want[[1, 4]], rtol=1e-4,
                                   atol=1e-5)


# ---------------------------------------------------------------- snapshots and the CLI

def test_snapshots_load_and_the_cli_exports_them(tmp_path, loci):
    """borzoi-pytorch's own widths (a snapshot's config fits them): Borzoi through the CLI
    with borzoi-pytorch's targets table, Flashzoi loaded from its config's ``flashed``."""
    settings = dict(dim=32, depth=1, heads=2, attn_dim_key=8, attn_dim_value=16,
                    bins_to_return=64)
    model = make_small_borzoi(2, settings, narrow=False, noise=0.045)
    model.save_pretrained(tmp_path / "borzoi")
    length = 4096
    bins = tss_bins(64)
    out = tmp_path / "cli.onnx"
    assert main(["export", "--model", "borzoi", "--checkpoint", str(tmp_path / "borzoi"),
                 "--out", str(out), "--seq-length", str(length), "--tracks", "0,1,7610",
                 "--bins", ",".join(map(str, bins)), "--input", "tokens",
                 "--no-incremental"]) == 0
    predictor = OnnxPredictor(out)
    names = predictor.metadata.extra["track_names"]
    assert names["0"].startswith("CAGE:") and set(names) == {"0", "1", "7610"}
    want = borzoi_reference(model, loci[:2, :length], tracks=[0, 1, 7610], bins=bins)
    assert input_spread(want[0], want[1]) > 0.01
    np.testing.assert_allclose(predictor.predict(loci[:2, :length]), want, rtol=1e-4,
                               atol=1e-6)
    assert main(["info", str(out)]) == 0

    flash = make_small_borzoi(3, dict(settings, dim=256, flashed=True), narrow=False,
                              noise=0.02)
    flash.save_pretrained(tmp_path / "flashzoi")
    assert json.loads((tmp_path / "flashzoi" / "config.json").read_text())["flashed"]
    loaded = load_borzoi(tmp_path / "flashzoi")
    assert isinstance(loaded.transformer[0][0].fn[1], FlashzoiAttention)
    want = borzoi_reference(flash, loci[:1, :length])
    np.testing.assert_array_equal(borzoi_reference(loaded, loci[:1, :length]), want)
    assert output_bins(length, 64) == (64, 32)


def test_cli_refuses_enformer_options_and_a_missing_head(tmp_path, caplog):
    model = make_small_borzoi(0, dict(SMALL), narrow=False, noise=0.0)
    model.save_pretrained(tmp_path / "snap")
    out = tmp_path / "x.onnx"
    base = ["export", "--model", "borzoi", "--checkpoint", str(tmp_path / "snap"), "--out",
            str(out), "--seq-length", str(L)]
    assert main(base + ["--dim", "64", "--tf-gamma"]) == 2
    assert "--dim, --tf-gamma/--no-tf-gamma: Enformer options" in caplog.text
    assert main(base + ["--head", "mouse"]) == 2
    assert "the snapshot has no mouse head" in caplog.text
    assert not out.exists()


# ---------------------------------------------------------------- incremental and the tests

TILES = [(0, 512), (3584, 4096), (4608, 5120), (7680, 8192)]  # edges and by the TSS tile
TSS = (4096, 4608)


def run_both(fn):
    full_stats, inc_stats = PipelineStats(), PipelineStats()
    full = fn(incremental=False, stats=full_stats)
    inc = fn(incremental=True, stats=inc_stats)
    assert full_stats.n_incremental == 0 and inc_stats.n_incremental > 0
    return full, inc


def test_incremental_equals_full_passes(exports, loci):
    for name in FAMILIES:
        predictor = OnnxPredictor(exports[name], threads=1)
        assert predictor.incremental.geometry.stride == 128
        opts = dict(tiles=TILES, num_shuffles=2, verbose=False, batch_size=4)
        full, inc = run_both(lambda **o: assays.necessity(predictor, loci, **opts, **o))
        assert np.nanmax(np.abs(full.effect)) > 100 * RTOL
        np.testing.assert_allclose(inc.mut, full.mut, rtol=RTOL, atol=1e-7)
        full, inc = run_both(lambda **o: assays.sufficiency(predictor, loci[:2], tss_tile=TSS,
                                                            **opts, **o))
        assert np.nanmax(np.abs(full.effect)) > 100 * RTOL
        np.testing.assert_allclose(inc.mut, full.mut, rtol=RTOL, atol=1e-7)


def test_the_eight_tests_run_on_a_borzoi_export(exports, loci):
    predictor = OnnxPredictor(exports["borzoi"], threads=1)
    opts = dict(num_shuffles=2, verbose=False, tile_size=512, tss_tile=TSS)
    ctx = assays.context_dependence(predictor, loci, **opts)
    assert ctx.to_frame()["track"].isin(TRACKS).all()
    assert np.all(np.isfinite(ctx.effect)) and np.nanmax(np.abs(ctx.effect)) > 1e-3
    swap = assays.context_swap(predictor, loci[:2], tss_tile=TSS, tile_size=512,
                               verbose=False)
    frame = swap.to_frame()
    assert len(frame) and np.isfinite(frame.select_dtypes("number").to_numpy()).all()
    nec = assays.necessity(predictor, loci[:2], tiles=TILES, num_shuffles=2, verbose=False)
    suf = assays.sufficiency(predictor, loci[:2], tiles=TILES, **opts)
    assert np.nanmax(np.abs(nec.effect)) > 1e-3 and np.nanmax(np.abs(suf.effect)) > 1e-3
    cre = (1024, 1536)
    dist = assays.distance(predictor, loci[0], cre, positions=[0, 2048, 7680], **opts)
    mult = assays.multiplicity(predictor, loci[0], cre, positions=[0, 2048, 7680],
                               num_copies=2, **opts)
    high = assays.higher_order(predictor, loci[1], tiles=TILES, num_shuffles=2, num_rounds=2,
                               verbose=False)
    fine = assays.fine_tile_search(predictor, loci[1], cre, scales=(256, 64),
                                   thresholds=(0.9, 0.9), n_batches=(1, 2), **opts)
    for result in (dist, mult, high, fine):
        assert len(result.to_frame())


# ---------------------------------------------------------------- the paper's Borzoi branches

@pytest.fixture(scope="module")
def replicates(exports, tmp_path_factory):
    """Two replicates laid out as the paper's '../data/borzoi/*/*' glob finds them (the
    first is the module's Borzoi export with its pieces)."""
    root = tmp_path_factory.mktemp("paper") / "borzoi"
    for seed in (0, 1):
        (root / f"f{seed}").mkdir(parents=True)
    for suffix in (".onnx", ".trunk.onnx", ".tower.onnx"):  # the names its metadata records
        source = exports["borzoi"].with_suffix(suffix)
        (root / "f0" / source.name).write_bytes(source.read_bytes())
    export_borzoi(make_small_borzoi(1), root / "f1" / "model.onnx", seq_length=L,
                  tracks=TRACKS, bins=TSS_BINS, input_kind="tokens")
    return root


def test_the_papers_borzoi_branches_run_on_compat(replicates, loci):
    """sufficiency_test, context_dependence_test and distance_test as the paper's scripts call
    them with Borzoi (window 5,000 bp -> 512 here), then process_borzoi_results' readout."""
    from creme_fast.compat import creme, custom_model, utils

    x = np.eye(4, dtype=np.float32)[loci[0]]
    glob_path = str(replicates / "*" / "*")
    # sufficiency_test.py: aggregate=True, the 8 central bins set after construction
    model = custom_model.Borzoi(glob_path, track_index=TRACKS, aggregate=True)
    assert len(model.replicates) == 2 and model.seq_length == L
    model.bin_index = list(np.arange(model.target_lengths // 2 - 4,
                                     model.target_lengths // 2 + 4, 1))
    assert model.bin_index == TSS_BINS
    tss_tile, cre_tiles = utils.set_tile_range(model.seq_length, 512)
    wt, mut, mut_std, control, control_std = creme.sufficiency_test(
        model, x, tss_tile, cre_tiles, 2, mean=True)
    assert wt.shape == (8, 3) and mut.shape == (len(cre_tiles), 8, 3)
    one = [r.predict(loci[:1], TSS_BINS, TRACKS) for r in model.replicates]
    np.testing.assert_allclose(wt, (one[0][0] + one[1][0]) / 2, rtol=1e-5)
    assert input_spread(one[0], one[1]) > 0.01  # the replicates differ: the mean is seen
    readout = (wt.sum(axis=0) / 2)[[0, 1]].sum()  # process_borzoi_results: bins, tracks
    assert np.isfinite(readout) and readout > 0
    # context_dependence_test.py: aggregate=False, mean=False, drop_wt=True
    model = custom_model.Borzoi(glob_path, track_index=TRACKS, aggregate=False)
    model.bin_index = TSS_BINS
    half = model.seq_length // 2
    _, pred_mut = creme.context_dependence_test(model, x, [half - 256, half + 256], 3,
                                                mean=False, drop_wt=True)
    assert pred_mut.shape == (3, 2, 8, 3)  # shuffles, replicates, bins, tracks
    per_model = (pred_mut.mean(axis=0).sum(axis=-2) / 2)[:, [0, 1]].sum(axis=-1)
    assert per_model.shape == (2,) and np.all(per_model > 0)
    # distance_test.py: aggregate=True, mean=False
    model = custom_model.Borzoi(glob_path, track_index=TRACKS, aggregate=True)
    model.bin_index = TSS_BINS
    starts = np.array(cre_tiles)[:3, 0]
    res = creme.distance_test(model, x, tss_tile, cre_tiles[0], starts, 2, mean=False)
    test = (res["mut"].mean(axis=1).sum(axis=1) / 2).sum(axis=-1)
    assert test.shape == (3,) and np.all(np.isfinite(test))
    with pytest.raises(ValueError, match="keeps only bins"):
        custom_model.Borzoi(glob_path, track_index=TRACKS).predict(x)  # bin_index=None


# ---------------------------------------------------------------- two models side by side

def test_plot_compare_matches_two_models_by_gene_and_tile(exports, tmp_path, caplog):
    """Necessity and context runs of Borzoi and Flashzoi on one genome, drawn against each
    other: rows matched by gene and by tile in genome coordinates."""
    import pandas as pd
    from genome_fixtures import make_genome, write_tss

    from creme_fast.plots.compare import match_runs

    fasta, _ = make_genome(tmp_path)
    genes = [("gA", "chr1", 120_000, "+"), ("gB", "chr1", 150_000, "-"),
             ("gC", "chr2", 100_000, "+"), ("gD", "chr2", 60_000, "-")]
    tss = write_tss(tmp_path, genes)
    runs = {}
    for test in ("necessity", "context"):
        for name in FAMILIES:
            runs[test, name] = tmp_path / f"{test}_{name}"
            assert main(["-q", "run", test, "--model", str(exports[name]), "--fasta",
                         str(fasta), "--tss", str(tss), "--out", str(runs[test, name]),
                         "--tile-size", "512", "--shuffles", "2", "--tracks", "3,7"]) == 0
    out = tmp_path / "figs"
    assert main(["plot", "--compare", str(runs["necessity", "borzoi"]),
                 str(runs["necessity", "flashzoi"]), "--compare-tracks", "7,3",
                 "--out", str(out)]) == 0
    table = pd.read_csv(out / "compare.necessity.csv")
    assert (out / "compare.necessity.png").stat().st_size > 10_000
    a = pd.read_parquet(next((runs["necessity", "borzoi"] / "results").glob("*.parquet")))
    n_tiles = a[(a["name"] == a["name"].iloc[0]) & (a["track"] == 7)].shape[0]
    assert len(table) == 4 * n_tiles and table["name"].nunique() == 4
    assert table["effect_a"].abs().max() > 1e-3  # effects exist, so the match is seen
    # each matched row holds run A's effect of that gene and genome tile at track 7
    row = table.iloc[5]
    src = a[(a["name"] == row["name"]) & (a["start"] == row["start"]) & (a["track"] == 7)]
    assert float(src["effect"].iloc[0]) == pytest.approx(row["effect_a"])
    test, matched, labels = match_runs(runs["context", "borzoi"], runs["context", "flashzoi"])
    assert test == "context" and len(matched) == 4 and "track 3" in labels[0]
    assert main(["plot", "--compare", str(runs["context", "borzoi"]),
                 str(runs["necessity", "flashzoi"]), "--out", str(out)]) == 2
    assert "compare runs of the same test" in caplog.text
    assert main(["plot", "--compare-tracks", "1,2", str(runs["context", "borzoi"]),
                 "--out", str(out)]) == 2
