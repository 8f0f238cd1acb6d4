"""creme_fast.compat.utils and custom_model: FASTA windows, one-hot, plots, Enformer."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
from compat_fixtures import input_dependent_enformer, write_export, write_genome
from enformer_fixtures import SEQ_LENGTH
from no_torch import run_blocking

from creme_fast.compat import custom_model, utils
from creme_fast.io.genome import GenomeError

COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    path = tmp_path_factory.mktemp("genome") / "genome.fa"
    return path, write_genome(path)


def expected_window(seqs, chrom, start, end, strand):
    """The interval read straight from the sequences written, N past the ends."""
    size = len(seqs[chrom])
    text = "N" * max(0, -start) + seqs[chrom][max(start, 0):min(end, size)] + \
        "N" * max(0, end - size)
    return text[::-1].translate(COMPLEMENT) if strand == "-" else text


@pytest.mark.parametrize("chrom,midpoint,width", [("chr3", 4000, 2048), ("chr3", 4000, 101),
                                                  ("chr16", 300, 2048), ("chr4", 5900, 512)])
@pytest.mark.parametrize("strand", ["+", "-"])
def test_sequence_parser_windows(genome, chrom, midpoint, width, strand):
    """kipoiseq's resize of [midpoint, midpoint + 1): the midpoint at width // 2 - 1 (even)."""
    path, seqs = genome
    parser = utils.SequenceParser(path)
    start = midpoint + 1 - width // 2 - width % 2
    text = expected_window(seqs, chrom, start, start + width, strand)
    got = parser.extract_seq_centered(chrom, midpoint, strand, width, onehot=False)
    assert got == text and len(got) == width
    onehot = parser.extract_seq_centered(chrom, midpoint, strand, width)
    assert onehot.dtype == np.float32 and onehot.shape == (width, 4)
    np.testing.assert_array_equal(onehot, utils.one_hot_encode(text))
    # [m, m + 2) has the same centre as [m, m + 1), kipoiseq's centre rounding up
    interval = parser.extract_seq_interval(chrom, midpoint, midpoint + 2, strand, width,
                                           onehot=False)
    assert interval == got
    parser.close()


def test_sequence_parser_pads_with_quarter_rows_and_reads_soft_mask(genome):
    path, seqs = genome
    parser = utils.SequenceParser(path)
    x = parser.extract_seq_centered("chr16", 100, "+", 1024)
    n_rows = np.all(x == 0.25, axis=-1)
    assert n_rows[:411].all() and not n_rows[411:].any()  # 1024 // 2 - 1 - 100 = 411
    soft = parser.extract_seq_interval("chr3", 1000, 1200, "+", onehot=False)
    assert soft == seqs["chr3"][1000:1200]  # written lower case, read as bases
    assert parser.extract_seq_interval("chr3", 1990, 2040, "+", onehot=False).count("N") == 30
    with pytest.raises(ValueError, match="strand"):
        parser.extract_seq_centered("chr3", 100, ".", 64)
    with pytest.raises(GenomeError, match="'3' is not in genome.fa.*chr3"):
        parser.extract_seq_centered("3", 100, "+", 64)
    with pytest.raises(GenomeError, match="does not overlap"):
        parser.extract_seq_interval("chr3", 20_000, 20_100, "+")


def test_one_hot_encode_and_rc():
    x = utils.one_hot_encode("ACgtN")
    np.testing.assert_array_equal(x, np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0],
                                               [0, 0, 0, 1], [0.25] * 4], dtype=np.float32))
    assert utils.rc_dna("tatcgN") == "NCGATA"
    with pytest.raises(ValueError, match="'R' at position 2"):
        utils.one_hot_encode("ACRT")


def test_plot_track():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    got = utils.plot_track([np.arange(10.0), np.ones(10)], color="red", zoom=[2, 8],
                           marks=np.array([4, 5]), ax=ax, label="x")
    assert got is ax and len(ax.get_lines()) == 2
    assert ax.get_xlim() == (2.0, 8.0) and len(ax.collections) == 1
    assert ax.get_lines()[0].get_color() == "red"
    new = utils.plot_track([np.ones(5)])
    assert new is not ax and new.figure.get_size_inches().tolist() == [20.0, 2.0]
    plt.close("all")


# ---------------------------------------------------------------------------
# custom_model.Enformer
# ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def enformer():
    return input_dependent_enformer()


@pytest.fixture(scope="module")
def models(enformer, tmp_path_factory):
    root = tmp_path_factory.mktemp("enformer")
    enformer.save_pretrained(root / "hf", safe_serialization=False)
    return {"checkpoint": root / "hf",
            "onnx": write_export(enformer, root / "all.onnx"),
            "pruned": write_export(enformer, root / "pruned.onnx", tracks=[4, 5], bins=[3, 4]),
            "tokens": write_export(enformer, root / "tokens.onnx", input_kind="tokens")}


@pytest.fixture(scope="module")
def x():
    rs = np.random.RandomState(0)
    x = np.eye(4, dtype=np.float32)[rs.randint(0, 4, (3, SEQ_LENGTH))]
    x[:, :300] = 0.25  # a window padded past a chromosome end
    return x


def torch_forward(enformer, x):
    import torch

    with torch.no_grad():
        return enformer(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)),
                        head="human").numpy()


def test_enformer_depends_on_its_input(enformer, x):
    out = torch_forward(enformer, x)
    assert np.ptp(out[:, 3:5, 5], axis=0).max() > 1e-2 * np.abs(out[:, 3:5, 5]).max()
    zeros = np.where(x == 0.25, 0.0, x)
    assert not np.allclose(torch_forward(enformer, zeros), out, rtol=1e-3)


@pytest.mark.parametrize("kind", ["checkpoint", "onnx", "pruned"])
def test_enformer_equals_enformer_pytorch(enformer, models, x, kind):
    options = {"seq_length": SEQ_LENGTH} if kind == "checkpoint" else {}
    model = custom_model.Enformer(track_index=[5], bin_index=[3, 4],
                                  model_path=models[kind], **options)
    assert model.seq_length == SEQ_LENGTH and model.target_length == 8
    expected = torch_forward(enformer, x)[:, [3, 4]][:, :, [5]]
    got = model.predict(x)
    assert got.shape == (3, 2, 1)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)  # 0.25 rows as given
    np.testing.assert_allclose(model.predict(x[0]), expected[:1], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.predict(x, batch_size=2), got, rtol=1e-6)
    if kind != "pruned":
        model.bin_index = None  # as the tutorials switch to whole tracks
        model.track_index = 7  # an int attribute indexes as numpy does: the axis goes
        np.testing.assert_allclose(model.predict(x), torch_forward(enformer, x)[:, :, 7],
                                   rtol=1e-4, atol=1e-5)


def test_token_export_sees_n_as_zero_rows(enformer, models, x):
    model = custom_model.Enformer(track_index=5, model_path=models["tokens"])
    zeros = np.where(x == 0.25, 0.0, x)
    np.testing.assert_allclose(model.predict(x), torch_forward(enformer, zeros)[:, :, [5]],
                               rtol=1e-4, atol=1e-5)


def test_enformer_selection_errors(models, x):
    with pytest.raises(ValueError, match=r"track_index: track 6 is not in pruned.onnx, which "
                                         r"keeps tracks \[4, 5\]"):
        custom_model.Enformer(track_index=[6], bin_index=[3], model_path=models["pruned"])
    model = custom_model.Enformer(track_index=[4], bin_index=[4], model_path=models["pruned"])
    model.bin_index = None
    with pytest.raises(ValueError, match=r"bin_index=None asks for every bin, but pruned.onnx "
                                         r"keeps only bins \[3, 4\]; .* make an export with "
                                         r"every bin: creme-fast export --checkpoint "):
        model.predict(x)
    with pytest.raises(ValueError, match="track 16 is out of range; the model has 16 tracks"):
        custom_model.Enformer(track_index=16, model_path=models["onnx"])
    with pytest.raises(ValueError, match="exported with head 'human', not 'mouse'"):
        custom_model.Enformer(head="mouse", model_path=models["onnx"])
    with pytest.raises(ValueError, match=r"x must be one-hot \(2048, 4\)"):
        custom_model.Enformer(model_path=models["onnx"]).predict(x[:, :100])


def test_every_bin_error_gives_the_export_command_that_makes_one(enformer, models, x):
    import shlex

    from creme_fast.cli import main

    with pytest.raises(ValueError) as info:  # no bin_index: every bin, as the paper's scripts
        custom_model.Enformer(track_index=[4], model_path=models["pruned"])
    command = str(info.value).split("every bin: ", 1)[1]
    assert command.startswith("creme-fast export ") and "--tracks 4,5" in command
    assert "--bins" not in command
    # the command, with the checkpoint filled in, makes an export the call accepts
    argv = [str(models["checkpoint"]) if a == "CHECKPOINT" else a
            for a in shlex.split(command)[1:]]
    assert main(argv) == 0
    out = argv[argv.index("--out") + 1]
    every = custom_model.Enformer(track_index=[4], model_path=out).predict(x)
    np.testing.assert_allclose(every, torch_forward(enformer, x)[:, :, [4]], rtol=1e-4,
                               atol=1e-5)


def test_enformer_export_runs_without_torch(models, x, tmp_path):
    np.save(tmp_path / "x.npy", x)
    proc = run_blocking(("torch", "creme"), """
        import sys
        import numpy as np
        from creme_fast.compat import custom_model
        model = custom_model.Enformer(track_index=[5], bin_index=[3, 4])
        np.save(sys.argv[1], model.predict(np.load(sys.argv[2])))
    """, str(tmp_path / "out.npy"), str(tmp_path / "x.npy"),
        env={"CREME_FAST_ENFORMER": str(models["onnx"])})
    assert proc.returncode == 0, proc.stderr
    expected = custom_model.Enformer(track_index=[5], bin_index=[3, 4],
                                     model_path=models["onnx"]).predict(x)
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"), expected)


# ---------------------------------------------------------------------------
# batch_size and memory (observation 6 of issue 12)
# ---------------------------------------------------------------------------

HUNGRY = """
    import sys, warnings
    import numpy as np
    from creme_fast.compat import creme
    from creme_fast.errors import CremeFastWarning

    class Hungry:
        '''Holds 40 MB per sequence while it predicts, as an autograd graph would.'''
        seq_length = 2000
        def predict(self, x):
            scratch = np.ones((x.shape[0], 5_000_000))
            return (scratch[:, :1] * x.sum(axis=(1, 2))[:, None])[:, None, :]

    creme.MEMORY_WARNING_BYTES = 150 << 20
    x = np.eye(4)[np.random.RandomState(0).randint(0, 4, 2000)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        creme.necessity_test(Hungry(), x, [[100, 200], [300, 400]], 4,
                             batch_size=int(sys.argv[1]), rng=np.random.RandomState(0))
    print("WARNINGS", [str(w.message) for w in caught if w.category is CremeFastWarning])
"""


@pytest.mark.parametrize("batch_size,warned", [(8, True), (1, False)])
def test_costly_first_batch_warns(batch_size, warned):
    proc = run_blocking(("creme",), HUNGRY, str(batch_size))
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("WARNINGS")][0]
    assert ("first call on a batch of 8 raised peak memory" in line) is warned, line
    assert ("pass a smaller batch_size" in line) is warned


# ---------------------------------------------------------------------------
# issue 19: gradients, the pruned-export message, the memory warning
# ---------------------------------------------------------------------------

def autograd_grad_times_input(enformer, x, mask):
    """enformer-pytorch's own forward and autograd: independent of compat."""
    import torch

    inputs = torch.tensor(np.ascontiguousarray(x[None], dtype=np.float32), requires_grad=True)
    weights = torch.from_numpy(mask)
    target = (enformer(inputs, head="human") * weights).sum() / weights.sum()
    (grad,) = torch.autograd.grad(target, inputs)
    return (grad * inputs).sum(-1)[0].detach().numpy(), grad.numpy()


def test_contribution_input_grad_equals_autograd(enformer, models, x):
    model = custom_model.Enformer(model_path=models["checkpoint"], seq_length=SEQ_LENGTH)
    mask = np.zeros((8, 16), dtype=np.float32)
    mask[3:5, 5] = 1
    expected, raw = autograd_grad_times_input(enformer, x[0], mask)
    other, _ = autograd_grad_times_input(enformer, x[1], mask)
    # the gradient depends on the input, so equality below can fail
    assert np.abs(expected).max() > 0 and np.abs(expected - other).max() > 0.1 * \
        np.abs(expected).max()
    got = model.contribution_input_grad(x[0], mask)
    assert got.shape == (SEQ_LENGTH,) and got.dtype == np.float32
    assert type(got.numpy()) is np.ndarray  # the scripts call .numpy(), as on a tf.Tensor
    assert type(pickle.loads(pickle.dumps(got[:5]))) is np.ndarray
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-9)
    # the paper's input: seq_length // 2 zero rows on each side (creme-nn's TF-Hub length)
    half = SEQ_LENGTH // 2
    padded = np.pad(x[:1], ((0, 0), (half, half), (0, 0)))
    got_padded = model.contribution_input_grad(padded, mask)
    assert tuple(got_padded.shape) == (2 * SEQ_LENGTH,)
    np.testing.assert_array_equal(got_padded[half:-half].numpy(), got.numpy())
    assert not got_padded[:half].any() and not got_padded[-half:].any()
    grad = model.contribution_input_grad(x[0], mask, mult_by_input=False)
    assert tuple(grad.shape) == (1, SEQ_LENGTH, 4)
    np.testing.assert_allclose(grad.numpy(), raw, rtol=1e-5, atol=1e-9)
    # track_index and bin_index select predictions; the mask covers the full output
    model.track_index, model.bin_index = [5], [3, 4]
    np.testing.assert_array_equal(model.contribution_input_grad(x[0], mask).numpy(), got.numpy())
    with pytest.raises(ValueError, match=r"target_mask must cover the full output \(8, 16\)"):
        model.contribution_input_grad(x[0], mask[:, :1])
    with pytest.raises(ValueError, match=r"x must be one-hot \(1, 2048, 4\)"):
        model.contribution_input_grad(x[:2], mask)
    with pytest.raises(ValueError, match="head='mouse' but this model runs head 'human'"):
        model.contribution_input_grad(x[0], mask, head="mouse")


def test_contribution_input_grad_on_an_export_says_what_it_needs(models, x):
    model = custom_model.Enformer(model_path=models["onnx"])
    with pytest.raises(ValueError, match="needs gradients, which ONNX Runtime does not give.*"
                                         "enformer-pytorch checkpoint"):
        model.contribution_input_grad(x[0], np.ones((8, 16), np.float32))


def test_no_track_index_on_a_pruned_export_gives_the_export_command(models):
    with pytest.raises(ValueError, match=r"track_index=None asks for every track, but "
                                         r"pruned.onnx keeps only tracks \[4, 5\].*re-export every "
                                         r"track: creme-fast export --checkpoint CHECKPOINT --out "
                                         r".*pruned.onnx --seq-length 2048"):
        custom_model.Enformer(bin_index=[3], model_path=models["pruned"])


MEMORY_PROBE = """
    import sys, warnings
    import numpy as np
    from creme_fast.compat import creme, custom_model

    class Wrapped(custom_model.ModelBase):
        # a caller's model around the same export: still watched
        def __init__(self, inner):
            self.inner, self.seq_length = inner, inner.seq_length
        def predict(self, x):
            return self.inner.predict(x)

    creme.MEMORY_WARNING_BYTES = 1  # any growth of the peak at all would warn
    model = custom_model.Enformer(track_index=[5], bin_index=[3, 4], model_path=sys.argv[1])
    model = model if sys.argv[2] == "compat" else Wrapped(model)
    x = np.eye(4)[np.random.RandomState(0).randint(0, 4, model.seq_length)]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        creme.necessity_test(model, x, [[100, 200], [300, 400]], 4, batch_size=8,
                             rng=np.random.RandomState(0), verbose=False)
    print("WARNINGS", [str(w.message) for w in caught if "peak memory" in str(w.message)])
"""


def test_compat_enformer_is_not_warned_about_memory(models):
    """Its first batch allocates ONNX Runtime's working memory: not a model holding
    autograd state per sequence (the warning's advice). The same export wrapped in a
    caller's class is still watched (and grows the peak, so the check can fail)."""
    seen = {}
    for kind in ("compat", "caller"):
        proc = run_blocking(("creme",), MEMORY_PROBE, str(models["onnx"]), kind)
        assert proc.returncode == 0, proc.stderr
        seen[kind] = [ln for ln in proc.stdout.splitlines() if ln.startswith("WARNINGS")][0]
    assert seen["compat"] == "WARNINGS []"
    assert "first call on a batch of 8 raised peak memory" in seen["caller"]
