"""The result schema (issue 21 items 1 and 2, issue 17 item 4): genome coordinates of
every tile, the model's original track indices and names, settings kept with Python
results, BED of enhancing/silencing tiles."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyfaidx
import pytest
from genome_fixtures import CHROMS, GENES, make_genome, write_tss

from creme_fast import assays
from creme_fast.cli import main
from creme_fast.io.genome import Genome
from creme_fast.io.targets import TargetsError, read_targets
from creme_fast.runtime import CallablePredictor
from creme_fast.schema.bed import BED_COLUMNS, read_elements_bed
from creme_fast.sequence.tokens import encode, reverse_complement

W = 20_000  # a short window: the genes near chromosome ends get clipped windows


def _table(genes=GENES) -> pd.DataFrame:
    table = pd.DataFrame(genes, columns=["name", "chrom", "tss", "strand"])
    table["chrom_size"] = table["chrom"].map(CHROMS)
    return table


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    directory = tmp_path_factory.mktemp("schema_genome")
    path, _ = make_genome(directory)
    return path, write_tss(directory)


def _sum_model(length: int) -> CallablePredictor:
    """Activity = count of G+C in the window (depends on every base), 2 tracks."""
    def predict(x: np.ndarray) -> np.ndarray:
        gc = x[:, :, 1:3].sum(axis=(1, 2))
        return np.stack([gc, 2 * gc + 1], axis=-1)[:, None, :]
    return CallablePredictor(predict, seq_length=length, tss_bins=[0])


def test_every_tile_reads_back_from_the_fasta_on_both_strands_and_at_chromosome_ends(genome):
    path, _ = genome
    table = _table()
    with Genome(path) as g:
        tokens = np.stack([g.window(c, t, s, W) for _, c, t, s in GENES])
    res = assays.necessity(_sum_model(W), tokens, tile_size=2000, num_shuffles=1,
                           verbose=False, loci=table)
    frame = res.to_frame()
    fasta = pyfaidx.Fasta(str(path), sequence_always_upper=True)
    centre = W // 2
    clipped = 0
    for row in frame[frame["track"] == 0].itertuples():
        locus = GENES.index((row.name, row.chrom, row.tss, row.strand))
        tile = tokens[locus, row.tile_start:row.tile_end]
        assert row.tss_offset == row.tile_start - centre
        if pd.isna(row.start):  # wholly in the padding past a chromosome end
            assert (tile == 4).all()
            clipped += 1
            continue
        bases = encode(str(fasta[row.chrom][int(row.start):int(row.end)]))
        # window index i holds genome tss + (i - centre) on +, tss - (i - centre) on -
        if row.strand == "+":
            lo, hi = int(row.start) - row.tss + centre, int(row.end) - row.tss + centre
            got = tokens[locus, lo:hi]
        else:
            lo, hi = row.tss + centre - int(row.end) + 1, row.tss + centre - int(row.start) + 1
            got = reverse_complement(tokens[locus, lo:hi])
        np.testing.assert_array_equal(got, bases)
        # what of the tile is not in the genome interval is padding (tight clipping)
        assert row.tile_start <= lo and hi <= row.tile_end
        assert (tokens[locus, row.tile_start:lo] == 4).all()
        assert (tokens[locus, hi:row.tile_end] == 4).all()
        if hi - lo < row.tile_end - row.tile_start:
            clipped += 1
        # upstream (negative offset) is before the TSS in the gene's orientation
        if row.tile_end <= centre and hi - lo == row.tile_end - row.tile_start:
            assert (row.end <= row.tss) if row.strand == "+" else (row.start > row.tss)
    assert clipped >= 3  # geneC, geneD and geneH windows run past a chromosome end
    assert set(frame["strand"]) == {"+", "-"}


def test_python_results_keep_settings_loci_and_give_bed(tmp_path, genome):
    path, _ = genome
    table = _table(GENES[:2])
    with Genome(path) as g:
        tokens = np.stack([g.window(c, t, s, W) for _, c, t, s in GENES[:2]])
    res = assays.sufficiency(_sum_model(W), tokens, tile_size=2000, num_shuffles=2,
                             seed=3, verbose=False, tracks=[1], loci=table)
    assert res.settings["tile_size"] == 2000 and res.settings["num_shuffles"] == 2
    assert res.settings["seed"] == 3 and res.settings["tracks"] == [1]
    saved = res.save(tmp_path / "s.npz")
    back = type(res).load(saved)
    assert back.settings == res.settings and back.loci == res.loci
    pd.testing.assert_frame_equal(back.to_frame(), res.to_frame())
    frame = res.to_frame()
    assert list(frame.columns[:6]) == ["name", "chrom", "tss", "strand", "track", "tile"]
    assert set(frame["track"]) == {1} and set(frame["name"]) == {"geneA", "geneB"}
    bed = res.elements(threshold=0.0)
    assert len(bed) and list(bed.columns) == BED_COLUMNS
    assert set(bed["strand"]) <= {"+", "-"} and (bed["end"] > bed["start"]).all()
    with pytest.raises(ValueError, match="genome coordinates"):
        res.with_loci(list(table["name"])).elements()
    with pytest.raises(ValueError, match="2 sequences"):
        assays.necessity(_sum_model(W), tokens, tile_size=2000, num_shuffles=1,
                         verbose=False, loci=["only-one"])


# --- track identity through a pruned export (issue 17 item 4) -------------------------


HEAD = 16  # the small Enformer's human head
KEPT = [12, 3, 9]


def _targets(path):
    rows = ["index\tgenome\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription"]
    rows += [f"{i}\t0\tENCFF{i:03d}\t/x/{i}.w5\t384\t1\tsum\tCAGE:cell_{i}" for i in range(HEAD)]
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    pytest.importorskip("enformer_pytorch")
    from enformer_fixtures import make_small_enformer

    from creme_fast.export import export_enformer

    directory = tmp_path_factory.mktemp("pruned")
    model = directory / "small.onnx"
    export_enformer(make_small_enformer(), model, seq_length=8192, tracks=KEPT,
                    input_kind="tokens", incremental=False,
                    targets=_targets(directory / "targets_human.txt"))
    return model


def test_targets_table_errors(tmp_path):
    bad = tmp_path / "t.txt"
    bad.write_text("index\tgenome\tdescription\n0\t0\ta\nx\t0\tb\n")
    with pytest.raises(TargetsError, match="line 3, column 1: index 'x' is not an integer"):
        read_targets(bad)
    bad.write_text("index\tgenome\n0\t0\n")
    with pytest.raises(TargetsError, match="no description column"):
        read_targets(bad)
    assert read_targets(_targets(tmp_path / "ok.txt"))[5] == "CAGE:cell_5"


def test_export_checks_the_targets_table_before_loading_the_checkpoint(tmp_path, capsys):
    pytest.importorskip("torch")
    bad = tmp_path / "targets.txt"
    bad.write_text("index\tdescription\n0\ta\n0\tb\n")
    code = main(["export", "--checkpoint", str(tmp_path / "absent"), "--out",
                 str(tmp_path / "m.onnx"), "--targets", str(bad)])
    assert code == 2 and "line 3, column 1: index 0 appears twice" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_pruned_track_indices_and_names_survive_into_runs_and_summaries(tmp_path, genome,
                                                                      pruned):
    from creme_fast.runtime import OnnxPredictor

    fasta, genes = genome
    meta = OnnxPredictor(pruned).metadata
    assert meta.tracks == KEPT
    assert meta.extra["track_names"] == {str(t): f"CAGE:cell_{t}" for t in KEPT}
    common = ["-q", "run", "necessity", "--model", str(pruned), "--fasta", str(fasta),
              "--tss", str(genes), "--tile-size", "1000", "--shuffles", "1", "--bins", "3,4"]
    out = tmp_path / "nec"
    assert main([*common, "--out", str(out), "--tracks", "9,12"]) == 0
    results = pd.concat(pd.read_parquet(p) for p in sorted((out / "results").glob("*.parquet")))
    assert set(results["track"]) == {9, 12}  # the model's own indices, not 0, 1
    for track, name in results[["track", "track_name"]].drop_duplicates().itertuples(
            index=False):
        assert name == f"CAGE:cell_{track}"
    summary = pd.read_parquet(out / "summary.parquet")
    assert set(summary["track"]) == {9, 12}
    assert len(summary.query("track == 12")) == len(GENES)
    assert (summary["track_name"] == "CAGE:cell_" + summary["track"].astype(str)).all()
    assert {"top_tile_genome_start", "top_tile_genome_end", "top_tile_tss_offset"} <= set(
        summary.columns)
    settings = json.loads((out / "settings.json").read_text())
    assert settings["config"]["tracks"] == [9, 12]
    assert settings["fasta"] == str(fasta) and settings["fasta_path"] == str(fasta.resolve())
    bed = read_elements_bed(out / "elements.bed")
    called = results[results["effect"].abs() > 0.3].dropna(subset=["start"])
    assert len(bed) == len(called) and set(bed["track"]) <= {9, 12}
    # a track the export did not keep is refused by name, before any work
    assert main([*common, "--out", str(tmp_path / "bad"), "--tracks", "0"]) == 2
    assert not (tmp_path / "bad").exists()
    # the Python API speaks the same indices
    with Genome(fasta) as g:
        tokens = g.window("chr1", 120_000, "+", 8192)
    res = assays.higher_order(OnnxPredictor(pruned), tokens, tile_size=1000, num_shuffles=1,
                              num_rounds=1, bins=[3, 4], track=3, verbose=False)
    frame = res.to_frame()
    assert res.track == 3 and set(frame["track"]) == {3}
    assert set(frame["track_name"]) == {"CAGE:cell_3"}
    with pytest.raises(ValueError, match="track 0 is not among the model's tracks"):
        assays.necessity(OnnxPredictor(pruned), tokens, tile_size=1000, tracks=[0])


def test_names_name_the_rows_and_must_agree_with_loci() -> None:
    from creme_fast.schema.coords import check_loci
    assert list(check_loci(None, 2, ["a", "b"])["name"]) == ["a", "b"]
    assert list(check_loci(["a", "b"], 2, ["a", "b"])["name"]) == ["a", "b"]
    with pytest.raises(ValueError, match="loci and names name different loci"):
        check_loci(["a", "c"], 2, ["a", "b"])
    with pytest.raises(ValueError, match="names has 1 names for 2 sequences"):
        check_loci(None, 2, ["a"])
