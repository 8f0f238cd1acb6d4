"""creme-nn's eight tutorials, call by call, with creme-nn unimportable.

Each test runs one tutorial's calls in order (docs/source/tutorials in the
creme-nn repository) in a subprocess where ``import creme`` fails, after the
one switched import ``from creme_fast.compat import creme, utils, custom_model,
shuffle``. The model is a small Enformer (2,048 bp, 8 bins, 16 tracks) exported
by creme-fast and named by ``CREME_FAST_ENFORMER``, as a user names theirs; the
genome is a FASTA the test writes. Sizes are scaled: tiles of 256 bp (6 around
the TSS tile instead of 38), track 5 for 5111 and bins 3-4 for 447-448.
Each subprocess prints what the tutorial looks at; the test checks its types,
shapes and keys against the reference's documented results.
"""
from __future__ import annotations

import json

import pytest
from compat_fixtures import GENES, input_dependent_enformer, write_export, write_genome
from enformer_fixtures import SEQ_LENGTH
from no_torch import run_blocking

PRELUDE = """
import json, sys
import numpy as np
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from creme_fast.compat import creme, utils, custom_model, shuffle
try:
    import creme as _unwanted
except ImportError:
    pass
else:
    raise SystemExit("creme-nn is importable in the tutorial process")
fasta_path = sys.argv[1]
out = {}
def shape(a):
    return list(np.shape(a))
"""

EPILOGUE = """
assert not [m for m in sys.modules if m == "creme" or m.startswith("creme.")]
print("RESULT " + json.dumps(out))
"""

# the genes of each tutorial (see compat_fixtures.GENES)
TUTORIALS = {
    "context_dependence": f"""
track_index = [5]
model = custom_model.Enformer(track_index=track_index)
seq_parser = utils.SequenceParser(fasta_path)
genes = {[GENES['ABCA8'], GENES['NFKBIZ']]!r}
gene_seqs = {{}}
for gene in genes:
    gene_name, chrom, start, strand = gene.split('_')
    seq = seq_parser.extract_seq_centered(chrom, int(start), strand, model.seq_length)
    gene_seqs[gene_name] = seq
bins = [3, 4]
abca8_wt = model.predict(gene_seqs['ABCA8'])[0, :, 0]
nfkbiz_wt = model.predict(gene_seqs['NFKBIZ'])[0, :, 0]
utils.plot_track([abca8_wt], color='green', zoom=[0, 8], marks=bins)
utils.plot_track([nfkbiz_wt], color='red', zoom=[0, 8], marks=bins)
seq_halflen = model.seq_length // 2
half_window_size = 128
N_shuffles = 10
_, pred_mut = creme.context_dependence_test(model, gene_seqs['ABCA8'],
                                            [seq_halflen - half_window_size,
                                             seq_halflen + half_window_size],
                                            N_shuffles, mean=False, drop_wt=True)
out["drop_wt"] = _ == [None]
utils.plot_track([abca8_wt], color='green', zoom=[2, 6], marks=bins)
ax = utils.plot_track(pred_mut[:, :, 0], zoom=[2, 6], marks=bins)
utils.plot_track([pred_mut[:, :, 0].mean(axis=0)], alpha=1, color='k', zoom=[2, 6],
                 marks=bins, ax=ax)
out["pred_mut"] = shape(pred_mut)
_, pred_mut = creme.context_dependence_test(model, gene_seqs['NFKBIZ'],
                                            [seq_halflen - half_window_size,
                                             seq_halflen + half_window_size],
                                            N_shuffles, mean=False, drop_wt=True)
ax = utils.plot_track(pred_mut[:, :, 0], zoom=[2, 6], marks=bins)
out["pred_mut_2"] = shape(pred_mut)
out["wt"] = shape(abca8_wt)
out["axes"] = type(ax).__name__
""",
    "context_swap": f"""
track_index = [5]
model = custom_model.Enformer(track_index=track_index)
seq_parser = utils.SequenceParser(fasta_path)
genes = {[GENES['ABCA8'], GENES['NFKBIZ']]!r}
gene_seqs = {{}}
for gene in genes:
    gene_name, chrom, start, strand = gene.split('_')
    gene_seqs[gene_name] = seq_parser.extract_seq_centered(chrom, int(start), strand,
                                                           model.seq_length)
bins = [3, 4]
abca8_wt = model.predict(gene_seqs['ABCA8'])[0, :, 0]
nfkbiz_wt = model.predict(gene_seqs['NFKBIZ'])[0, :, 0]
seq_halflen = model.seq_length // 2
half_window_size = 128
pred_mut = creme.context_swap_test(model, gene_seqs['ABCA8'], gene_seqs['NFKBIZ'],
                                   [seq_halflen - half_window_size, seq_halflen + half_window_size])
ax = utils.plot_track([abca8_wt], color='green', zoom=[2, 6], alpha=1, label='WT')
utils.plot_track(pred_mut[:, :, 0], color='purple', zoom=[2, 6], ax=ax, alpha=1, label='swap')
plt.legend()
out["pred_mut"] = shape(pred_mut)
pred_mut = creme.context_swap_test(model, gene_seqs['NFKBIZ'], gene_seqs['ABCA8'],
                                   [seq_halflen - half_window_size, seq_halflen + half_window_size])
out["pred_mut_2"] = shape(pred_mut)
out["labels"] = [line.get_label() for line in ax.get_lines()]
""",
    "distance_test": f"""
track_index = [5]
model = custom_model.Enformer(track_index=track_index)
seq_parser = utils.SequenceParser(fasta_path)
gene = {GENES['GATA2']!r}
gene_name, chrom, start, strand = gene.split('_')
wt_seq = seq_parser.extract_seq_centered(chrom, int(start), strand, model.seq_length)
bins = [3, 4]
wt = model.predict(wt_seq)[0, :, 0]
utils.plot_track([wt], color='green', zoom=[0, 8], marks=bins)
perturb_window = 256
N_shuffles = 10
tss_tile, cre_tiles = utils.set_tile_range(model.seq_length, perturb_window)
enhancing_cre_tile = cre_tiles[3]
test_start_positions = np.array(cre_tiles)[:, 0]
results = creme.distance_test(model, wt_seq, tss_tile, enhancing_cre_tile,
                              test_start_positions, N_shuffles, mean=False, seed=True)
utils.plot_track([results['control'].mean(axis=0)[:, 0]], zoom=[2, 6], alpha=1, color='k')
for one_position_result in results['mut'].mean(axis=1)[..., 0]:
    utils.plot_track([one_position_result], zoom=[2, 6], alpha=0.4, marks=[3, 4])
average_result_per_position = results['mut'].mean(axis=1)[..., 0][:, [3, 4]].mean(axis=-1)
fig, ax = plt.subplots(1)
ax.scatter(test_start_positions, average_result_per_position, color='#655C83')
for i, selection in enumerate([0, 3, 5]):
    utils.plot_track([results['mut'].mean(axis=1)[selection, :, 0]])
again = creme.distance_test(model, wt_seq, tss_tile, enhancing_cre_tile,
                            test_start_positions, N_shuffles, mean=False, seed=True)
out["keys"] = sorted(results)
out["control"] = shape(results['control'])
out["mut"] = shape(results['mut'])
out["seeded_repeats"] = bool(np.array_equal(again['mut'], results['mut']))
out["n_tiles"] = len(cre_tiles)
out["tile_types"] = [type(tss_tile[0]).__name__, type(cre_tiles[0][0]).__name__]
""",
    "higher_order_interaction_test": f"""
track_index = [5]
bins = [3, 4]
model = custom_model.Enformer(track_index=track_index, bin_index=bins)
seq_parser = utils.SequenceParser(fasta_path)
gene = {GENES['CLUAP1']!r}
gene_name, chrom, start, strand = gene.split('_')
wt_seq = seq_parser.extract_seq_centered(chrom, int(start), strand, model.seq_length)
out["quarter_rows"] = int(np.all(wt_seq == 0.25, axis=-1).sum())
wt = model.predict(wt_seq)[0, :, 0].mean()
perturb_window = 256
N_shuffles = 10
tss_tile, cre_tiles = utils.set_tile_range(model.seq_length, perturb_window)
n_tiles = len(cre_tiles)
result_summary = creme.higher_order_interaction_test(model, wt_seq, cre_tiles.copy(),
                                                     np.argmin, num_shuffle=5, num_rounds=3)
out["initial_is_wt"] = bool(result_summary[0]['initial_pred'] == wt.mean())
fig, axes = plt.subplots(1, len(result_summary.keys()), figsize=[15, 4], sharey=True)
shuffled_tiles = []
out["preds"] = []
for i in result_summary.keys():
    ax = axes[i]
    out["preds"].append(shape(result_summary[i]["preds"]))
    mean_preds = result_summary[i]['preds'].mean(axis=-1).copy()
    for s in shuffled_tiles:
        mean_preds = np.insert(mean_preds, s, np.nan)
    min_i = np.nanargmin(mean_preds)
    shuffled_tiles.append(min_i)
    ax.scatter(range(n_tiles), mean_preds / wt, color='purple')
    assert np.min(result_summary[i]['preds'].mean(axis=-1)) == \\
        result_summary[i]['selected_mean_pred']
    ax.annotate(f'selected tile #{{min_i}}', [min_i + 1.5, mean_preds[min_i] / wt])
plt.tight_layout()
model.bin_index = None
wt_track = model.predict(wt_seq)[0, :, 0]
shuffled_tile_seq = wt_seq.copy()
per_iteration_preds = []
for i in result_summary.keys():
    preds = []
    tile_start, tile_end = result_summary[i]['selected_tile']
    for j in range(3):
        background_seq = shuffle.dinuc_shuffle(wt_seq)
        shuffled_tile_seq[tile_start: tile_end] = background_seq[tile_start: tile_end]
        preds.append(model.predict(shuffled_tile_seq)[0, :, 0])
    per_iteration_preds.append(preds)
ax = utils.plot_track([wt_track], label='WT', color='k', alpha=1)
for i, preds in enumerate(per_iteration_preds):
    utils.plot_track([np.array(preds).mean(axis=0)], zoom=[1, 7], label=f'iteration {{i+1}}',
                     ax=ax)
plt.legend()
out["keys"] = sorted(result_summary)
out["round_keys"] = sorted(result_summary[0])
out["caller_tiles_kept"] = len(cre_tiles) == n_tiles
out["wt_track"] = shape(wt_track)
""",
    "multiplicity_test": f"""
track_index = [5]
model = custom_model.Enformer(track_index=track_index)
seq_parser = utils.SequenceParser(fasta_path)
gene = {GENES['KIT']!r}
gene_name, chrom, start, strand = gene.split('_')
wt_seq = seq_parser.extract_seq_centered(chrom, int(start), strand, model.seq_length)
bins = [3, 4]
wt = model.predict(wt_seq)[0, :, 0]
utils.plot_track([wt], color='green', zoom=[0, 8], marks=bins)
perturb_window = 256
N_shuffles = 10
num_copies = 3
tss_tile, cre_tiles = utils.set_tile_range(model.seq_length, perturb_window)
enhancing_cre = [1408, 1664]
model.bin_index = [3, 4]
cre_seq = wt_seq[enhancing_cre[0]:enhancing_cre[1]].copy()
result_summary = creme.multiplicity_test(model, wt_seq, tss_tile, enhancing_cre, cre_seq,
                                         cre_tiles, N_shuffles, num_copies, np.argmax)
out["keys"] = sorted(result_summary.keys())
out["order"] = [[int(v) for v in t] for t in result_summary['selected_tile_order']]
out["all_mutants"] = [shape(m) for m in result_summary['all_mutants']]
out["dtypes"] = [str(np.asarray(result_summary['all_mutants'][0]).dtype),
                 str(np.asarray(result_summary['best_tss_signal']).dtype)]
model.bin_index = None
background_seqs_wth_TSS = shuffle.dinuc_shuffle(wt_seq, 10)
background_seqs_wth_TSS[:, tss_tile[0]:tss_tile[1], :] = wt_seq[tss_tile[0]:tss_tile[1], :]
just_tss_pred = model.predict(background_seqs_wth_TSS)[0, :, 0]
CREs_and_TSS = background_seqs_wth_TSS.copy()
preds_per_iter = []
for tile_position in result_summary['selected_tile_order']:
    CREs_and_TSS[:, tile_position[0]:tile_position[1], :] = cre_seq.copy()
    preds_per_iter.append(np.array(model.predict(CREs_and_TSS)[:, :, 0]).mean(axis=0))
ax = utils.plot_track([just_tss_pred], label='No CRE', color='k', alpha=1)
for i, p in enumerate(preds_per_iter):
    utils.plot_track([p], zoom=[2, 6], ax=ax, label=f"{{i+1}} CRE copies")
plt.legend()
out["preds_per_iter"] = [shape(p) for p in preds_per_iter]
""",
    "necessity_test": f"""
track_index = [5]
model = custom_model.Enformer(track_index=track_index)
seq_parser = utils.SequenceParser(fasta_path)
gene = {GENES['GATA2']!r}
gene_name, chrom, start, strand = gene.split('_')
wt_seq = seq_parser.extract_seq_centered(chrom, int(start), '-', model.seq_length)
bins = [3, 4]
wt = model.predict(wt_seq)[0, :, 0]
utils.plot_track([wt], color='green', zoom=[0, 8], marks=bins)
perturb_window = 256
N_shuffles = 10
tss_tile, cre_tiles = utils.set_tile_range(model.seq_length, perturb_window)
cre_tiles = cre_tiles[3:4]
_, pred_mut = creme.necessity_test(model, wt_seq, cre_tiles, N_shuffles, mean=False)
for p in pred_mut.mean(axis=1)[:, :, 0]:
    ax = utils.plot_track([p], color='red')
    utils.plot_track([wt], ax=ax, zoom=[2, 6], marks=[3, 4], color='green')
out["pred_wt"] = shape(_)
out["pred_mut"] = shape(pred_mut)
""",
    "sufficiency_test_and_fine_tile_search": f"""
track_index = [5]
model = custom_model.Enformer(track_index=track_index)
seq_parser = utils.SequenceParser(fasta_path)
gene = {GENES['GATA2']!r}
gene_name, chrom, start, strand = gene.split('_')
wt_seq = seq_parser.extract_seq_centered(chrom, int(start), '-', model.seq_length)
bins = [3, 4]
wt = model.predict(wt_seq)[0, :, 0]
perturb_window = 256
N_shuffles = 10
tss_tile, cre_tiles = utils.set_tile_range(model.seq_length, perturb_window)
cre_tiles = cre_tiles[3:4]
_, pred_mut, pred_control, control_sequences = creme.sufficiency_test(
    model, wt_seq, tss_tile, cre_tiles, N_shuffles, mean=False, return_seqs=True)
ax = utils.plot_track(pred_mut.mean(axis=1)[:, :, 0], color='green', label='TSS+CRE')
utils.plot_track([wt], ax=ax, zoom=[2, 6], marks=[3, 4], color='grey', label='WT')
utils.plot_track(pred_control.mean(axis=1)[:, :, 0], color='purple', label='just TSS', ax=ax,
                 zoom=[2, 6], marks=[3, 4])
ax.legend()
out["pred_mut"] = shape(pred_mut)
out["control_sequences"] = shape(control_sequences)
model = custom_model.Enformer(track_index=track_index, bin_index=bins)
mut = pred_mut[:, :, bins, :].mean()
scales = [64, 16]
thresholds = [0.9, 0.7]
frac = 1
N_batches = [1, 4]
optimization_results = creme.prune_sequence(model, wt_seq, control_sequences, mut,
                                            cre_tiles[0][0], cre_tiles[0][1], scales,
                                            thresholds, frac, N_batches)
final_sequences = control_sequences.copy()
for embed_start, embed_end in optimization_results[16]['insert_coords']:
    final_sequences[:, embed_start: embed_end, :] = wt_seq[embed_start: embed_end, :].copy()
final_prediction = model.predict(final_sequences)
out["final"] = float(final_prediction.mean() / mut)
out["windows"] = sorted(optimization_results)
out["window_keys"] = sorted(optimization_results[16])
""",
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("tutorials")
    fasta = root / "genome.fa"
    write_genome(fasta)
    export = write_export(input_dependent_enformer(), root / "enformer.onnx")
    return fasta, export


def run_tutorial(name, fasta, env):
    proc = run_blocking(("creme",), PRELUDE + TUTORIALS[name] + EPILOGUE, str(fasta), env=env,
                        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_context_dependence_tutorial(setup):
    fasta, export = setup
    out = run_tutorial("context_dependence", fasta, {"CREME_FAST_ENFORMER": str(export)})
    assert out["drop_wt"] is True
    assert out["pred_mut"] == out["pred_mut_2"] == [10, 8, 1]
    assert out["wt"] == [8]
    assert out["axes"] == "Axes"


def test_context_swap_tutorial(setup):
    fasta, export = setup
    out = run_tutorial("context_swap", fasta, {"CREME_FAST_ENFORMER": str(export)})
    assert out["pred_mut"] == out["pred_mut_2"] == [1, 8, 1]
    assert out["labels"][:2] == ["WT", "swap"]


def test_distance_tutorial(setup):
    fasta, export = setup
    out = run_tutorial("distance_test", fasta, {"CREME_FAST_ENFORMER": str(export)})
    assert out["keys"] == ["control", "mut"]
    assert out["control"] == [10, 8, 1]
    assert out["mut"] == [out["n_tiles"], 10, 8, 1] and out["n_tiles"] == 6
    assert out["seeded_repeats"] is True
    assert out["tile_types"] == ["int", "int64"]


def test_higher_order_tutorial(setup):
    fasta, export = setup
    out = run_tutorial("higher_order_interaction_test", fasta,
                       {"CREME_FAST_ENFORMER": str(export)})
    assert out["quarter_rows"] > 0  # the window runs past chr16's start: N as 0.25 rows
    assert out["initial_is_wt"] is True
    assert out["preds"] == [[6, 5], [5, 5], [4, 5]]
    assert out["keys"] == [0, 1, 2]
    assert out["round_keys"] == ["initial_pred", "preds", "selected_mean_pred", "selected_tile"]
    assert out["caller_tiles_kept"] is True  # the tutorial passes cre_tiles.copy()
    assert out["wt_track"] == [8]


def test_multiplicity_tutorial(setup):
    fasta, export = setup
    out = run_tutorial("multiplicity_test", fasta, {"CREME_FAST_ENFORMER": str(export)})
    assert out["keys"] == ["all_mutants", "best_tss_signal", "only_tss_pred",
                           "selected_tile_order", "tss_and_cre_pred"]
    assert out["all_mutants"] == [[10, 6], [10, 5], [10, 4]]
    assert len(out["order"]) == 3 and len({tuple(t) for t in out["order"]}) == 3
    assert out["dtypes"] == ["float64", "float64"]
    assert out["preds_per_iter"] == [[8]] * 3


def test_necessity_tutorial(setup):
    fasta, export = setup
    out = run_tutorial("necessity_test", fasta, {"CREME_FAST_ENFORMER": str(export)})
    assert out["pred_wt"] == [1, 8, 1]
    assert out["pred_mut"] == [1, 10, 8, 1]


def test_sufficiency_and_fine_tile_tutorial(setup):
    fasta, export = setup
    out = run_tutorial("sufficiency_test_and_fine_tile_search", fasta,
                       {"CREME_FAST_ENFORMER": str(export)})
    assert out["pred_mut"] == [1, 10, 8, 1]
    assert out["control_sequences"] == [10, SEQ_LENGTH, 4]
    assert out["windows"] == [16, 64]
    assert out["window_keys"] == ["all_removed_tiles", "bps", "insert_coords", "scores"]
    assert out["final"] > 0


CUSTOM_MODEL = """
import torch
from enformer_pytorch import Enformer
from enformer_pytorch import from_pretrained

def make_a_prediction(self, x):
    if len(x.shape) == 2:
        x = x[np.newaxis]
    x_torch = torch.from_numpy(x)
    preds = self(x_torch)[self.head].detach().numpy()
    if self.bin_index:
        preds = preds[:, self.bin_index, :]
    if self.track_index:
        preds = preds[..., self.track_index]
    return preds

setattr(Enformer, "predict", make_a_prediction)
model = from_pretrained(sys.argv[2])
model.seq_length = int(sys.argv[3])
model.head = 'human'
model.track_index = 5
model.bin_index = None
seq_parser = utils.SequenceParser(fasta_path)
gene = sys.argv[4]
gene_name, chrom, start, strand = gene.split('_')
wt_seq = seq_parser.extract_seq_centered(chrom, int(start), '-', model.seq_length)
half_window_size = 128
tss_tile_pos = [model.seq_length // 2 - half_window_size, model.seq_length // 2 + half_window_size]
wt_pred, mut_pred = creme.context_dependence_test(model, wt_seq, tss_tile_pos, 10, False)
bins = [3, 4]
utils.plot_track(wt_pred, color='green', zoom=[2, 6], marks=bins)
ax = utils.plot_track(mut_pred, zoom=[2, 6], marks=bins)
utils.plot_track([mut_pred.mean(axis=0)], alpha=1, color='k', zoom=[2, 6], marks=bins, ax=ax)
out["wt_pred"] = shape(wt_pred)
out["mut_pred"] = shape(mut_pred)
out["varies"] = float(np.ptp(mut_pred))
"""


def test_adding_a_custom_model_tutorial(setup, tmp_path):
    """The tutorial's own enformer-pytorch wrapper (from_pretrained on a local directory:
    the hub cannot be reached), run by the compat tests."""
    fasta, _ = setup
    input_dependent_enformer().save_pretrained(tmp_path / "enformer", safe_serialization=False)
    proc = run_blocking(("creme",), PRELUDE + CUSTOM_MODEL + EPILOGUE, str(fasta),
                        str(tmp_path / "enformer"), str(SEQ_LENGTH), GENES["NFKBIZ"],
                        timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
    assert out["wt_pred"] == [1, 8]
    assert out["mut_pred"] == [10, 8]
    assert out["varies"] > 0


def test_enformer_without_a_model_says_how(tmp_path):
    proc = run_blocking(("creme",), """
        from creme_fast.compat import custom_model
        try:
            custom_model.Enformer(track_index=[5])
        except ValueError as exc:
            print("ERROR", exc)
    """, env={"CREME_FAST_ENFORMER": ""})
    assert proc.returncode == 0, proc.stderr
    assert "CREME_FAST_ENFORMER" in proc.stdout and "model_path" in proc.stdout
