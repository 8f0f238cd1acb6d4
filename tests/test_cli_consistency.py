"""One name per concept on the command line, defaults in every --help line, old
spellings kept with a deprecation message, and ``info`` on the built-in model (issue 28)."""
from __future__ import annotations

import argparse
import json

import pytest

from creme_fast.cli import build_parser, main
from creme_fast.cli.options import DEPRECATIONS


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.help != argparse.SUPPRESS
            and not isinstance(a, (argparse._HelpAction, argparse._VersionAction))]


# flags whose absence is the default (store_true), and positionals without a default
def _says_its_default(action: argparse.Action) -> bool:
    text = (action.help or "").lower()
    if isinstance(action, argparse._StoreTrueAction):
        return True
    if not action.option_strings and action.nargs in ("+", None) and action.default is None:
        return True  # a required positional: the usage line says so
    return "default" in text or "required" in text or "deprecated alias" in text


def test_every_option_has_help_that_states_its_default():
    missing = []
    for name, parser in _subparsers().items():
        for action in _options(parser):
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                missing.append(f"{label}: no help")
            elif not _says_its_default(action):
                missing.append(f"{label}: help does not state its default: {action.help!r}")
    assert not missing, "\n".join(missing)


def test_one_name_per_concept_across_subcommands():
    parsers = _subparsers()
    flags = {name: {s for a in p._actions for s in a.option_strings if a.help != argparse.SUPPRESS}
             for name, p in parsers.items()}
    for command in ("run", "export", "bench"):  # the window length is --seq-length everywhere
        assert "--seq-length" in flags[command] and "--length" not in flags[command], command
    # --json prints JSON to stdout wherever it exists; a file is --out
    for command in ("info", "bench"):
        json_action = next(a for a in parsers[command]._actions if "--json" in a.option_strings)
        assert json_action.nargs in (0, "?"), command
    helps = {name: next(a.help for a in p._actions if "--provider" in a.option_strings)
             for name, p in parsers.items() if "--provider" in flags[name]}
    assert set(helps) == {"run", "bench"} and len(set(helps.values())) == 1
    for command in ("run", "demo", "bench"):
        shuffles = next(a for a in parsers[command]._actions if "--shuffles" in a.option_strings)
        tiles = next(a for a in parsers[command]._actions if "--tile-size" in a.option_strings)
        assert (shuffles.default, tiles.default) == (10, 5000), command
        assert "in bp" in tiles.help, command


@pytest.mark.parametrize("argv, dest, value, message", [
    (["run", "activity", "--model", "m", "--fasta", "f", "--tss", "t", "--out", "o",
      "--length", "1000"], "length", 1000, "--length is deprecated; use --seq-length"),
    (["run", "fine_tile", "--model", "m", "--fasta", "f", "--tss", "t", "--out", "o"],
     "test", "fine-tile", "'fine_tile' is called 'fine-tile' on the command line"),
    (["run", "higher_order", "--model", "m", "--fasta", "f", "--tss", "t", "--out", "o"],
     "test", "higher-order", "'higher_order' is called 'higher-order'"),
    (["export", "--checkpoint", "c", "--out", "o", "--use-tf-gamma"], "use_tf_gamma", True,
     None),
])
def test_old_spellings_still_parse(argv, dest, value, message):
    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value
    notes = getattr(args, DEPRECATIONS, None) or []
    if message is not None:
        assert any(message in n for n in notes), notes


def test_an_unknown_test_name_lists_the_real_ones(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "finetile", "--model", "m", "--fasta", "f", "--tss",
                                   "t", "--out", "o"])
    err = capsys.readouterr().err
    assert "invalid choice: 'finetile'" in err and "fine-tile" in err and "necessity" in err


def test_bench_json_prints_and_the_old_json_path_still_writes(tmp_path, capsys, caplog):
    args = ["bench", "--model", "none", "--seq-length", "20000", "--tile-size", "5000",
            "--shuffles", "1", "--repeats", "1", "--batch-sizes", "2"]
    assert main(args + ["--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["test"] == "necessity" and report["generation"]
    old = tmp_path / "old.json"
    assert main(args + ["--json", str(old)]) == 0
    assert json.loads(old.read_text())["test"] == "necessity"
    assert f"bench --json PATH is deprecated; use --out {old}" in caplog.text
    assert "mutants/s" in capsys.readouterr().out  # --json PATH keeps the text report
    new = tmp_path / "new.json"
    assert main(args + ["--out", str(new)]) == 0 and json.loads(new.read_text())["generation"]


def test_info_takes_synthetic_and_shows_tracks_and_tss_bins(capsys):
    assert main(["info", "synthetic"]) == 0
    out = capsys.readouterr().out
    assert "tracks             0 cell_A, 1 cell_B, 2 cell_C" in out
    assert "TSS bins           447, 448: what `run` and the API average by default" in out
    assert main(["info", "synthetic", "--json"]) == 0
    model = json.loads(capsys.readouterr().out)["model"]
    assert model["tss_bins"] == [447, 448]
    assert [t["name"] for t in model["tracks"]] == ["cell_A", "cell_B", "cell_C"]


def test_info_of_a_pruned_export_names_the_models_bins(tmp_path, capsys):
    pytest.importorskip("enformer_pytorch")
    from enformer_fixtures import SEQ_LENGTH, make_small_enformer

    from creme_fast.export import export_enformer

    out = tmp_path / "pruned.onnx"
    export_enformer(make_small_enformer(), out, seq_length=SEQ_LENGTH, bins=[3, 4],
                    tracks=[1, 5], input_kind="tokens", incremental=False)
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "TSS bins           0, 1 (the model's bins 3, 4)" in text
    assert "tracks             1, 5 (no names: export with --targets)" in text
