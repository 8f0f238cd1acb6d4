"""creme_fast.compat.utils' helpers for the CREME paper's scripts, against creme-nn 0.2.5.

creme-nn's ``creme.utils`` imports kipoiseq (not installable here: its build fails)
and logomaker (in the ``test`` extra). The reference module is imported with the
real logomaker and a small stand-in for ``kipoiseq.Interval`` (the only kipoiseq
part its ``FastaStringExtractor`` uses: ``chrom``, ``start``, ``end``, ``stop``,
``width()``).
"""
from __future__ import annotations

import importlib
import logging
import pickle
import sys
import types

import numpy as np
import pandas as pd
import pytest
from compat_fixtures import write_genome

from creme_fast.compat import utils
from creme_fast.io.genome import GenomeError


class Interval:
    """kipoiseq.Interval's fields as creme-nn's FastaStringExtractor reads them."""

    def __init__(self, chrom, start, end):
        self.chrom, self.start, self.end = chrom, start, end

    @property
    def stop(self):
        return self.end

    def width(self):
        return self.end - self.start


@pytest.fixture
def ref(monkeypatch):
    """creme-nn's creme.utils, freshly imported with the real logomaker."""
    import logomaker  # noqa: F401  (the real one, not another test's stand-in)

    monkeypatch.setitem(sys.modules, "logomaker", logomaker)
    kipoiseq = types.ModuleType("kipoiseq")
    kipoiseq.Interval = Interval
    monkeypatch.setitem(sys.modules, "kipoiseq", kipoiseq)
    monkeypatch.delitem(sys.modules, "creme.utils", raising=False)
    module = importlib.import_module("creme.utils")
    monkeypatch.delitem(sys.modules, "creme.utils")
    return module


RESULT = {"wt": np.arange(6, dtype=np.float32).reshape(1, 2, 3),
          "mut": np.random.RandomState(0).rand(4, 2, 3), "tiles": [[1, 2], [3, 4]],
          16: {"scores": [0.9, 0.8], "insert_coords": [np.array([10, 26])]}}


def assert_same(a, b):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert_same(a[k], b[k])
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, list):
        assert len(a) == len(b)
        for u, v in zip(a, b):
            assert_same(u, v)
    else:
        assert a == b


def test_pickles_round_trip_with_creme_nn(ref, tmp_path, caplog):
    ref.save_pickle(tmp_path / "ref.pickle", RESULT)
    utils.save_pickle(tmp_path / "fast.pickle", RESULT)
    assert (tmp_path / "ref.pickle").read_bytes() == (tmp_path / "fast.pickle").read_bytes()
    assert_same(utils.read_pickle(tmp_path / "ref.pickle"), RESULT)
    assert_same(ref.read_pickle(tmp_path / "fast.pickle"), RESULT)
    # an existing file is left alone by both; compat logs instead of printing
    with caplog.at_level(logging.WARNING, logger="creme_fast.compat.paper"):
        utils.save_pickle(tmp_path / "fast.pickle", {"other": 1})
    assert "already exists" in caplog.text
    assert_same(pickle.loads((tmp_path / "fast.pickle").read_bytes()), RESULT)


def test_make_dir(ref, tmp_path):
    for module, name in ((ref, "ref"), (utils, "fast")):
        path = f"{tmp_path}/{name}"
        assert module.make_dir(f"{module.make_dir(path)}/sub") == f"{path}/sub"
        assert module.make_dir(path) == path  # exists already
        with pytest.raises(FileNotFoundError):
            module.make_dir(f"{tmp_path}/missing/{name}")
        (tmp_path / f"{name}.txt").write_text("x")
        with pytest.raises(FileExistsError):
            module.make_dir(tmp_path / f"{name}.txt")


def test_names(ref):
    for text in ["CAGE:K562 ENCODE, biol_", "CAGE:PC-3", "DNASE: GM12878 ENCODE", "plain",
                 "a:b:c ENCODE d"]:
        assert utils.clean_cell_name(text) == ref.clean_cell_name(text)
    tss = pd.DataFrame({"Chromosome": ["chr3", "chr17"], "Start": [6000, 1500],
                        "gene_name": ["GATA2", "ABCA8"], "Strand": ["-", "+"]})
    for _, row in tss.iterrows():
        assert utils.get_summary(row) == ref.get_summary(row)
    assert utils.get_summary(tss.iloc[0]) == "GATA2_chr3_6000_-"


def test_get_borzoi_targets(ref):
    targets = pd.DataFrame({"description": [
        "CAGE:K562 ENCODE, biol_", "RNA:K562 ENCODE, biol_", "CAGE:PC-3",
        "CAGE:GM12878 ENCODE, biol_", "CAGE:K562 ENCODE, biol_", "DNASE:PC-3", "CAGE:HeLa"]})
    lines = ["K562 ENCODE, biol_", "PC-3", "GM12878 ENCODE, biol_", "absent"]
    expected, got = ref.get_borzoi_targets(targets, lines), utils.get_borzoi_targets(targets, lines)
    assert got[1] == expected[1] == [0, 2, 3, 4]
    assert got[0].keys() == expected[0].keys()
    for line in lines:
        assert got[0][line]["target"] == expected[0][line]["target"]
        assert got[0][line]["output"] == expected[0][line]["output"]
        assert [type(v) for v in got[0][line]["output"]] == \
            [type(v) for v in expected[0][line]["output"]]
    assert got[0]["K562 ENCODE, biol_"] == {"output": [0, 3], "target": "0&4"}


def test_plot_cdf_and_asterisks(ref):
    x = np.random.RandomState(1).normal(size=5000)
    for bins in (1000, 7):
        np.testing.assert_array_equal(utils.plot_cdf(x, bins), ref.plot_cdf(x, bins))
    assert utils.plot_cdf(x)[-1] == pytest.approx(1.0)
    for p in [0, 1e-5, 1e-4, 2e-4, 1e-3, 0.005, 0.01, 0.02, 0.05, 0.051, 0.5, 1.0]:
        assert utils.convert_pvalue_to_asterisks(p) == ref.convert_pvalue_to_asterisks(p)
    assert utils.convert_pvalue_to_asterisks(0.05) == "*"


@pytest.fixture
def fasta(tmp_path):
    path = tmp_path / "genome.fa"
    return path, write_genome(path)


@pytest.mark.parametrize("chrom,start,end", [("chr3", 100, 400), ("chr3", 900, 1300),
                                             ("chr3", -50, 20), ("chr4", 5990, 6100),
                                             ("chr16", -10, 5010), ("chr3", 1990, 2040)])
def test_fasta_string_extractor(ref, fasta, chrom, start, end):
    path, seqs = fasta
    expected = ref.FastaStringExtractor(str(path)).extract(Interval(chrom, start, end))
    extractor = utils.FastaStringExtractor(path)
    got = extractor.extract(Interval(chrom, start, end))
    assert got == expected and len(got) == end - start
    padded = "N" * max(0, -start) + seqs[chrom][max(start, 0):min(end, len(seqs[chrom]))]
    assert got.startswith(padded)
    extractor.close()


def test_fasta_string_extractor_outside(ref, fasta):
    path, _ = fasta
    expected = ref.FastaStringExtractor(str(path))
    got = utils.FastaStringExtractor(path)
    for interval in (Interval("chr4", 6000, 6100), Interval("chr3", -30, -10)):
        with pytest.raises(ValueError, match="Interval outside chromosome boundaries"):
            expected.extract(interval)
        with pytest.raises(ValueError, match="Interval outside chromosome boundaries"):
            got.extract(interval)
        assert got.extract(interval, safe_mode=False) == \
            expected.extract(interval, safe_mode=False) == "N" * interval.width()
    with pytest.raises(GenomeError, match="'chrX' is not in genome.fa"):
        got.extract(Interval("chrX", 0, 10))


def test_grad_times_input_to_df(ref):
    rs = np.random.RandomState(2)
    x = np.eye(4)[rs.randint(0, 3, 40)]  # no T: the reference's columns are the letters seen
    x[5:8] = 0.25  # N rows: argmax reads them as A, as the reference does
    grad = rs.normal(size=(40, 4))
    for xi, gi in ((x, grad), (x[None], grad[None])):
        expected = ref.grad_times_input_to_df(xi, gi)
        got = utils.grad_times_input_to_df(xi, gi)
        pd.testing.assert_frame_equal(got, expected)
    assert list(got.columns) == ["A", "C", "G"]
    assert got.iloc[0].abs().sum() > 0


def test_plot_attribution_map(ref):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rs = np.random.RandomState(3)
    df = utils.grad_times_input_to_df(np.eye(4)[rs.randint(0, 4, 30)], rs.normal(size=(30, 4)))
    _, (ax_ref, ax_fast) = plt.subplots(2)
    ref.plot_attribution_map(df, ax=ax_ref)
    returned = utils.plot_attribution_map(df, ax=ax_fast)
    assert returned is ax_fast
    assert len(ax_fast.patches) == len(ax_ref.patches) >= 30  # one glyph per position
    assert list(ax_fast.get_xticks()) == [] and list(ax_fast.get_yticks()) == []
    assert not ax_fast.spines["top"].get_visible()
    alone = utils.plot_attribution_map(df)  # no axes given: logomaker's own figure
    assert len(alone.patches) == len(ax_ref.patches)
    plt.close("all")
