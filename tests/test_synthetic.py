"""The synthetic ground-truth model, its loci, and recovery of the planted truth by
every CREME test (issue 5)."""
from __future__ import annotations

import numpy as np
import onnx
import pandas as pd
import pytest
from no_torch import run_without_torch

from creme_fast.cli import main
from creme_fast.demo import DemoSettings, run_demo
from creme_fast.demo.recovery import distance_expected
from creme_fast.runtime.metadata import METADATA_KEY, ModelMetadata
from creme_fast.sequence.tokens import encode, reverse_complement
from creme_fast.synthetic import (
    DEFAULT_GRAMMAR as G,
)
from creme_fast.synthetic import (
    Element,
    LocusDesign,
    generate_loci,
    load_synthetic,
    synthetic_model_path,
)
from creme_fast.synthetic.grammar import MOTIF_LENGTH

L = G.seq_length
TSS = slice(*G.tss_bins)


@pytest.fixture(scope="module")
def model():
    return load_synthetic()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo at the paper's settings, run once for every recovery test."""
    out = tmp_path_factory.mktemp("demo")
    return run_demo(out, DemoSettings(verbose=False))


def _metadata(path) -> ModelMetadata:
    props = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    return ModelMetadata.from_json(props[METADATA_KEY])


# --- the model ------------------------------------------------------------------


def test_onnx_graph_follows_the_written_grammar(model):
    """ORT on the shipped graph equals the NumPy reading of the grammar, for random
    sequences with motifs planted on both strands, N runs and motifs near the ends."""
    rs = np.random.RandomState(3)
    x = rs.randint(0, 4, (6, L)).astype(np.uint8)
    names = list(G.motifs)
    for b in range(6):
        for _ in range(6):
            m = encode(G.motifs[names[rs.randint(len(names))]])
            pos = rs.randint(0, L - MOTIF_LENGTH)
            x[b, pos:pos + MOTIF_LENGTH] = m if rs.rand() < 0.5 else reverse_complement(m)
        x[b, L // 2 - 8:L // 2 + 8] = encode(G.motifs["promoter"])
    x[1, 5000:5100] = 4
    x[2, :MOTIF_LENGTH] = encode(G.motifs["enh_U"])
    x[2, -MOTIF_LENGTH:] = reverse_complement(encode(G.motifs["enh_U"]))
    counts, promoter = G.counts(x)
    expected = G.activity(counts, promoter)
    out = model.predict(x)
    assert out.shape == (6, G.n_bins, G.n_tracks)
    np.testing.assert_allclose(out[:, TSS].mean(axis=1), expected, rtol=1e-5)
    assert np.all(out >= 0)


def test_strands_n_and_ceiling(model):
    base = np.zeros((4, L), dtype=np.uint8) + 2  # poly-G: no motif
    base[:, L // 2 - 8:L // 2 + 8] = encode(G.motifs["promoter"])
    enh = encode(G.motifs["enh_U"])
    pos = L // 2 + 10_000
    base[1, pos:pos + 16] = enh
    base[2, pos:pos + 16] = reverse_complement(enh)
    base[3, pos:pos + 16] = enh
    base[3, pos + 5] = 4  # an N inside the motif: no match
    act = model.predict(base)[:, TSS].mean(axis=1)
    assert act[1, 0] > 5 * act[0, 0]
    np.testing.assert_allclose(act[1], act[2], rtol=1e-6)  # both strands read alike
    np.testing.assert_allclose(act[3], act[0], rtol=1e-6)
    many = np.tile(base[1], (1, 1))
    for k in range(40):  # 40 more copies near the TSS: far past the ceiling
        p = L // 2 + 2000 + 300 * k
        many[0, p:p + 16] = enh
    top = model.predict(many)[0, TSS].mean(axis=0)
    assert np.all(top <= G.ceiling) and np.all(top > 0.95 * G.ceiling)


def test_shipped_onnx_equals_a_fresh_export(tmp_path, model):
    from creme_fast.export.synthetic import export_synthetic

    fresh = export_synthetic(tmp_path / "fresh.onnx").path
    shipped = synthetic_model_path()
    assert _metadata(fresh).checksum == _metadata(shipped).checksum, (
        "creme_fast/data/synthetic.onnx is stale: regenerate it with "
        "`python -m creme_fast.export.synthetic creme_fast/data/synthetic.onnx`")
    x = generate_loci(seed=5).tokens
    np.testing.assert_array_equal(load_synthetic().predict(x),
                                  __import__("creme_fast.runtime", fromlist=["x"])
                                  .load_predictor(fresh).predict(x))


# --- the loci -------------------------------------------------------------------


def test_loci_hold_exactly_the_planted_motifs():
    loci = generate_loci(seed=1)
    counts, promoter = G.counts(loci.tokens)
    np.testing.assert_allclose(promoter, 1.0, atol=1e-3)
    for i, name in enumerate(loci.names):
        planted = loci.motifs[loci.motifs["locus"] == name]
        want = np.zeros(len(G.motifs))
        for _, row in planted.iterrows():
            want[G.index(row["motif"])] += G.kernel(G.motif_center_offset(row["start"]))
        want[G.index("promoter")] = counts[i, G.index("promoter")]
        np.testing.assert_allclose(counts[i], want, rtol=1e-9, atol=1e-12)
    seq = loci.tokens
    gc = np.isin(seq, (1, 2)).mean()
    assert 0.40 < gc < 0.42
    cpg = ((seq[:, :-1] == 1) & (seq[:, 1:] == 2)).mean()
    assert cpg / (gc / 2) ** 2 < 0.4  # CpG depleted, as in the genome
    # both strands are used
    assert set(loci.motifs["strand"]) == {"+", "-"}


def test_truth_table_per_track():
    loci = generate_loci()
    a = loci.truth[(loci.truth["element"] == "A_enhancer")]
    assert list(a["acts"]) == [True, False, False]
    assert list(a["necessary"]) == [1, 0, 0]
    red = loci.truth[loci.truth["kind"] == "redundant"]
    assert (red["necessary"] == 0).all() and (red["sufficient"] == 1).all()
    coop = loci.truth[loci.truth["kind"] == "cooperative"]
    assert (coop["necessary"] == 1).all() and (coop["sufficient"] == 0).all()


@pytest.mark.parametrize("design, message", [
    (LocusDesign("x", "enhancing", (Element("e", "nope", "enhancer", 2),)), "unknown motif"),
    (LocusDesign("x", "enhancing", (Element("e", "enh_U", "enhancer", 0),)), r"tile \+0"),
    (LocusDesign("x", "enhancing", (Element("e", "enh_U", "enhancer", 30),)), "outside"),
    (LocusDesign("x", "enhancing", (Element("e", "enh_U", "enhancer", 2, offsets=(4990,)),)),
     "leaves the tile"),
    # a cooperative element without its partner acts alone: it reads as sufficient
    (LocusDesign("x", "other", (Element("e", "coop_1", "cooperative", 12),)),
     "does not read as"),
    (LocusDesign("x", "neutral", (Element("e", "enh_U", "enhancer", 2),)), "not neutral"),
])
def test_bad_designs_are_named(design, message):
    with pytest.raises(ValueError, match=message):
        generate_loci(designs=[design])


# --- recovery of the planted truth at the paper's settings ------------------------


def test_context_dependence_classes_the_loci(demo):
    category = demo.results["context_dependence"].category
    expected = {d.name: d.context for d in demo.loci.designs}
    for i, name in enumerate(demo.loci.names):
        assert list(category[i]) == [expected[name]] * G.n_tracks, name


@pytest.mark.parametrize("test, column", [("necessity", "necessary"),
                                          ("sufficiency", "sufficient")])
def test_tile_tests_flag_exactly_the_planted_tiles(demo, test, column):
    effect = demo.results[test].effect  # (loci, tiles, tracks)
    flagged = np.where(effect > 0.3, 1, np.where(effect < -0.3, -1, 0))
    want = np.zeros_like(flagged)
    for _, row in demo.loci.truth.iterrows():
        tile = demo.loci.element(row["element"])["tile"]
        want[demo.loci.locus(row["locus"]), tile, G.tracks.index(row["track"])] = row[column]
    np.testing.assert_array_equal(flagged, want)
    assert (want == 1).any() and (want == -1).any()  # both kinds are really tested
    # the measured effects are the grammar's, not merely on the right side of 0.3
    for _, row in demo.loci.truth.iterrows():
        tile = demo.loci.element(row["element"])["tile"]
        got = effect[demo.loci.locus(row["locus"]), tile, G.tracks.index(row["track"])]
        assert got == pytest.approx(row[f"{test}_expected"], abs=0.02)


def test_distance_follows_the_kernel(demo):
    result = demo.results["distance"]
    track = DemoSettings().track
    measured = result.activity[:, track]
    expected = distance_expected(demo.loci, G, result, "U_enhancer")[:, track]
    np.testing.assert_allclose(measured, expected, rtol=0.02)
    d = result.distance_bp
    for side in (d < 0, d > 0):  # activity falls with distance on both sides
        order = np.argsort(np.abs(d[side]))
        assert np.all(np.diff(measured[side][order]) < 0)
    # far from the ceiling the fall is the kernel itself
    far = np.abs(d) > 60_000
    base = demo.results["multiplicity"].tss_only
    ratio = (measured[far] - base) / G.kernel(d[far])
    assert ratio.std() / ratio.mean() < 0.05


def test_higher_order_finds_and_classes_the_pairs(demo):
    for name, kind in (("cooperative", "super-additive"), ("redundant", "sub-additive")):
        result = demo.results[f"higher_order_{name}"]
        pair = set(demo.loci.elements.loc[demo.loci.elements["locus"] == name, "tile"])
        assert set(result.selected[:2].tolist()) == pair, name
        assert result.classification()[1] == kind, name


def test_multiplicity_saturates_at_the_ceiling(demo):
    result = demo.results["multiplicity"]
    act = np.r_[result.tss_only, result.activity_by_copies]
    steps = np.diff(act)
    assert np.all(steps > 0)
    assert np.all(np.diff(steps) < 0)  # diminishing returns
    assert act.max() <= G.ceiling and act[-1] > 0.95 * G.ceiling


def test_fine_tile_keeps_only_the_motif_sub_tiles(demo):
    result = demo.results["fine_tile"]
    copies = demo.loci.motifs[demo.loci.motifs["element"] == "U_enhancer"]
    for start, end in zip(copies["start"], copies["end"]):
        assert np.any((result.kept[:, 0] <= start) & (result.kept[:, 1] >= end))
    for a, b in result.kept:
        assert np.any((copies["start"] < b) & (copies["end"] > a)), (a, b)
    assert result.kept_mask.sum() == 50 * len(copies)


def demo_table(demo, name):
    import pandas as pd

    return pd.read_parquet(next(p for p in demo.files if p.name == f"{name}.parquet"))


def test_demo_recovers_everything_and_writes_every_file(demo):
    assert demo.all_recovered, demo.recovery[~demo.recovery["ok"]]
    names = {p.name for p in demo.files}
    for table in ("context_dependence", "context_swap", "necessity", "sufficiency", "distance",
                  "higher_order", "multiplicity", "fine_tile", "truth", "recovery"):
        assert {f"{table}.parquet", f"{table}.csv"} <= names
    for plot in ("context", "necessity_sufficiency", "distance", "higher_order",
                 "multiplicity", "fine_tile"):
        assert {f"{plot}.png", f"{plot}.pdf"} <= names
    # the demo's tables are in the runs' schema: gene name, track index and name, and
    # genome coordinates on loci.fa (each locus a chromosome, its TSS at the centre, +)
    nec = demo_table(demo, "necessity")
    assert list(nec.columns[:6]) == ["name", "chrom", "tss", "strand", "track", "track_name"]
    assert set(nec["track_name"]) == set(G.tracks) and nec["track"].dtype.kind == "i"
    assert (nec["start"] == nec["tile_start"]).all() and (nec["chrom"] == nec["name"]).all()
    assert "locus" not in nec and "name" in demo_table(demo, "fine_tile")
    for path in demo.files:
        assert path.stat().st_size > 0
        if path.suffix == ".png":
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_demo_cli_runs_without_torch(tmp_path):
    """The README's first command: the demo needs ONNX Runtime, not PyTorch."""
    out = tmp_path / "demo"
    proc = run_without_torch("""
        from creme_fast.cli import main
        code = main(["-q", "demo", "--out", sys.argv[1], "--shuffles", "2"])
        assert "torch" not in sys.modules
        sys.exit(code)
    """, str(out))
    assert proc.returncode == 0, proc.stderr
    import pandas as pd

    recovery = pd.read_parquet(out / "recovery.parquet")
    assert recovery["ok"].all()
    assert len(list(out.glob("*.png"))) == 6
    assert (out / "loci.fa").read_text().startswith(">enhancing\n")


def test_the_demo_equals_creme_fast_run_on_the_loci_it_writes(demo, tmp_path):
    """Issue 28: the demo keys each locus's shuffles by its name, as `creme-fast run`
    does (and its progress names the genes, not "locus 3")."""
    fasta = next(p for p in demo.files if p.name == "loci.fa")
    tss = fasta.with_name("loci_tss.tsv")
    out = tmp_path / "nec"
    assert main(["-q", "run", "necessity", "--model", "synthetic", "--fasta", str(fasta),
                 "--tss", str(tss), "--out", str(out), "--no-progress"]) == 0
    keys = ["name", "track", "tile"]
    run = pd.concat(pd.read_parquet(p) for p in (out / "results").glob("*.parquet"))
    run = run.sort_values(keys, ignore_index=True)
    mine = demo.results["necessity"].to_frame().sort_values(keys, ignore_index=True)
    assert np.nanmax(np.abs(mine["effect"])) > 0.3  # effects to get wrong
    np.testing.assert_allclose(run["effect"], mine["effect"], rtol=1e-6)
    np.testing.assert_allclose(run["mean_mut"], mine["mean_mut"], rtol=1e-6)
