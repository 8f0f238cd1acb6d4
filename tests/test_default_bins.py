"""One default readout (issue 28): the Python API, compat and ``creme-fast run`` read the
TSS bins the model records; a model that records none is refused, naming ``bins=``."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from genome_fixtures import CHROMS, GENES, make_genome, write_tss
from toy_models import ConvToy

from creme_fast import assays
from creme_fast.cli import main
from creme_fast.compat import creme as compat_creme
from creme_fast.compat.custom_model import Enformer as CompatEnformer
from creme_fast.compat.encoding import encode_one_hot
from creme_fast.io.genome import Genome
from creme_fast.runtime import CallablePredictor
from creme_fast.runtime.readout import (
    centre_bins,
    kept_centre_bins,
    recorded_tss_bins,
    resolve_bins,
)
from creme_fast.synthetic import load_synthetic
from creme_fast.synthetic.model import synthetic_model_path

L = 196_608
GENE = GENES[0]  # geneA, chr1:120,000 +, an enhancer 12 kb upstream
SETTINGS = dict(tile_size=20000, num_shuffles=2, seed=0)


@pytest.fixture(scope="module")
def one_gene(tmp_path_factory):
    directory = tmp_path_factory.mktemp("one_gene")
    fasta, _ = make_genome(directory)
    tss = write_tss(directory, genes=[GENE])
    name, chrom, pos, strand = GENE
    with Genome(fasta) as genome:
        window = genome.window(chrom, pos, strand, L)
    return fasta, tss, window


def test_the_synthetic_model_depends_on_its_input_at_the_tss_bins(one_gene):
    """Precondition of the equality below: the readout sees the sequence."""
    _, _, window = one_gene
    model = load_synthetic()
    shuffled = np.random.default_rng(0).permutation(window)
    pred = model.predict(np.stack([window, shuffled]))[:, 447:449].mean(axis=1)
    assert np.all(pred[0] > 1.0) and np.all(np.abs(pred[0] - pred[1]) > 0.5 * pred[0])


def test_the_api_reads_the_recorded_tss_bins_not_every_bin(one_gene):
    """Observed: ``assays.necessity`` without ``bins=`` averaged all 896 bins (wild type
    0.031) while ``creme-fast run`` read bins 447-448 (5.84)."""
    _, _, window = one_gene
    model = load_synthetic()
    res = assays.necessity(model, window, verbose=False, **SETTINGS)
    pred = model.predict(window[None])[0]
    np.testing.assert_allclose(res.wt[0].mean(axis=0), pred[447:449].mean(axis=0), rtol=1e-6)
    assert res.settings["bins"] == [447, 448]
    assert np.all(res.wt[0].mean(axis=0) > 10 * pred.mean(axis=0))  # not the all-bin mean
    every = assays.necessity(model, window, verbose=False, bins="all", **SETTINGS)
    np.testing.assert_allclose(every.wt[0].mean(axis=0), pred.mean(axis=0), rtol=1e-6)
    assert every.settings["bins"] is None


def test_one_gene_through_api_compat_and_cli_gives_one_answer(tmp_path, one_gene):
    fasta, tss, window = one_gene
    name = GENE[0]
    model = load_synthetic()
    # the API with no bins=, keyed by the gene's name as `creme-fast run` keys it
    api = assays.necessity(model, window, names=[name], verbose=False, **SETTINGS)
    effect = api.effect[0]  # (tiles, tracks)
    assert np.nanmax(effect) > 0.3 and np.nanmin(np.abs(effect)) < 0.05  # an answer to get wrong
    # the CLI with no --bins
    out = tmp_path / "nec"
    assert main(["run", "necessity", "--model", "synthetic", "--fasta", str(fasta), "--tss",
                 str(tss), "--out", str(out), "--tile-size", "20000", "--shuffles", "2",
                 "--no-progress", "-q"]) == 0
    cli = pd.concat(pd.read_parquet(p) for p in sorted((out / "results").glob("*.parquet")))
    cli = cli.sort_values(["tile", "track"])
    # effects are ratios, which a model separable in bins keeps whatever bins are read:
    # compare the activities too
    for column, want in (("effect", effect), ("wt", np.broadcast_to(api.wt[0].mean(axis=0),
                                                                   effect.shape)),
                         ("mean_mut", api.mut[0].mean(axis=(1, 2)))):
        np.testing.assert_allclose(cli[column].to_numpy().reshape(effect.shape), want,
                                   rtol=1e-6, err_msg=column)
    assert json.loads((out / "settings.json").read_text())["config"]["bins"] == [447, 448]
    # compat, creme-nn's convention: the model's bin_index picks the bins (the export's
    # recorded TSS bins here), and its shuffles come from the rng as creme-nn's would
    tss_bins = recorded_tss_bins(model)
    wrapper = CompatEnformer(model_path=synthetic_model_path(), bin_index=tss_bins)
    pred_wt, mean_mut, _ = compat_creme.necessity_test(
        wrapper, encode_one_hot(window), [list(t) for t in api.tiles], 2,
        rng=np.random.RandomState(7), verbose=False)
    same = assays.necessity(model, window, shuffle="creme", rng=np.random.RandomState(7),
                            verbose=False, **SETTINGS)
    np.testing.assert_allclose(pred_wt[0].mean(axis=0), same.wt[0].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(mean_mut.mean(axis=1), same.mut[0].mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(same.effect[0], effect, rtol=1e-5, atol=1e-9)


def _toy_predictor() -> CallablePredictor:
    return CallablePredictor(ConvToy(seq_length=2000, bin_size=100), name="toy")


def test_a_model_without_tss_bins_is_refused_naming_bins():
    toy = _toy_predictor()
    seq = np.random.default_rng(0).integers(0, 4, 2000).astype(np.uint8)
    with pytest.raises(ValueError, match=r"toy records no TSS bins.*bins=\[447, 448\].*"
                       r"bins='all'"):
        assays.necessity(toy, seq, tile_size=500, num_shuffles=1, verbose=False)
    with pytest.raises(ValueError, match="bins must be a list of output bins"):
        assays.necessity(toy, seq, tile_size=500, num_shuffles=1, verbose=False, bins="every")
    said = assays.necessity(toy, seq, tile_size=500, num_shuffles=1, verbose=False,
                            bins=[9, 10])
    told = assays.necessity(CallablePredictor(ConvToy(seq_length=2000, bin_size=100),
                                              tss_bins=[9, 10]),
                            seq, tile_size=500, num_shuffles=1, verbose=False)
    np.testing.assert_array_equal(said.effect, told.effect)
    assert told.settings["bins"] == [9, 10]


def test_a_predictor_built_to_select_bins_reads_them():
    toy = ConvToy(seq_length=2000, bin_size=100)
    assert recorded_tss_bins(CallablePredictor(toy, bins=[9, 10])) == [0, 1]
    assert recorded_tss_bins(CallablePredictor(toy, bins=[3, 9, 10], bin_reduce="mean")) == [0]
    assert recorded_tss_bins(CallablePredictor(toy)) is None
    with pytest.raises(ValueError, match="tss_bins must be distinct"):
        CallablePredictor(toy, tss_bins=[1, 1])


def test_the_cli_refuses_a_model_without_tss_bins_naming_the_option(tmp_path, one_gene,
                                                                      caplog):
    torch = pytest.importorskip("torch")
    from creme_fast.export import export_module

    fasta, tss, _ = one_gene

    class Pool(torch.nn.Module):  # (B, L, 4) -> (B, L / 128 bins, 4 tracks)
        def forward(self, x):
            return torch.nn.functional.avg_pool1d(x.transpose(1, 2), 128).transpose(1, 2)

    path = export_module(Pool(), tmp_path / "pool.onnx", seq_length=L, input_kind="tokens",
                         incremental=False).path
    args = ["run", "activity", "--model", str(path), "--fasta", str(fasta), "--tss", str(tss),
            "--no-progress"]
    assert main(args + ["--out", str(tmp_path / "refused")]) == 2
    assert not (tmp_path / "refused").exists()
    assert "records no TSS bins" in caplog.text
    assert "--bins 447,448" in caplog.text and "--bins all" in caplog.text
    assert main(args + ["--out", str(tmp_path / "all"), "--bins", "all"]) == 0
    assert main(args + ["--out", str(tmp_path / "two"), "--bins", "767,768"]) == 0
    every = pd.read_parquet(tmp_path / "all" / "summary.parquet")
    two = pd.read_parquet(tmp_path / "two" / "summary.parquet")
    assert len(every) == len(two) == 4 and not np.allclose(every["activity"], two["activity"])


def test_centre_bins_are_the_papers_for_the_published_enformer():
    assert centre_bins(196_608, 896, 128) == [447, 448]
    assert centre_bins(196_608, 1536, 128) == [767, 768]
    assert centre_bins(1000, 5, 100) == [2]  # the centre base inside bin 2
    assert kept_centre_bins(196_608, 896, 128, [446, 447, 448, 449]) == [1, 2]
    assert kept_centre_bins(196_608, 896, 128, [447, 448]) == [0, 1]
    assert kept_centre_bins(196_608, 896, 128, [0, 1, 2]) is None
    with pytest.raises(ValueError, match="do not fit"):
        centre_bins(1000, 20, 100)


def test_explicit_bins_and_all_pass_through():
    toy = _toy_predictor()
    assert resolve_bins(toy, [3, 4]) == [3, 4]
    assert resolve_bins(toy, "all") is None
    with pytest.raises(ValueError, match="--bins 447,448"):
        resolve_bins(toy, None, "--bins")


def test_an_enformer_export_records_its_tss_bins(tmp_path):
    pytest.importorskip("enformer_pytorch")
    from enformer_fixtures import SEQ_LENGTH, make_small_enformer

    from creme_fast.export import export_enformer
    from creme_fast.runtime import OnnxPredictor

    model = make_small_enformer()  # 2,048 bp: 8 bins of 128 bp, the TSS between 3 and 4
    assert centre_bins(SEQ_LENGTH, 8, 128) == [3, 4]
    kept = export_enformer(model, tmp_path / "kept.onnx", seq_length=SEQ_LENGTH,
                           bins=[2, 3, 4], input_kind="tokens", incremental=False)
    assert kept.metadata.extra["tss_bins"] == [1, 2]
    assert recorded_tss_bins(OnnxPredictor(kept.path)) == [1, 2]
    # an export from before the key existed: the same bins from its geometry
    old = OnnxPredictor(kept.path)
    extra = {k: v for k, v in old.metadata.extra.items() if k != "tss_bins"}
    old.metadata = dataclasses.replace(old.metadata, extra=extra)
    assert recorded_tss_bins(old) == [1, 2]
    elsewhere = export_enformer(model, tmp_path / "edge.onnx", seq_length=SEQ_LENGTH,
                                bins=[0, 1], input_kind="tokens", incremental=False)
    assert "tss_bins" not in elsewhere.metadata.extra
    tokens = np.random.default_rng(0).integers(0, 4, SEQ_LENGTH).astype(np.uint8)
    with pytest.raises(ValueError, match="edge.onnx records no TSS bins.*bins="):
        assays.necessity(OnnxPredictor(elsewhere.path), tokens, tile_size=512,
                         num_shuffles=1, verbose=False)
