"""The Snakemake workflow shipped with creme-fast, and what its Snakefile calls.

``creme-fast workflow init DIR`` writes ``DIR/Snakefile`` and ``DIR/config.yaml`` (a
config to edit) from this package. The Snakefile validates the user's config with
Snakemake's ``validate`` against ``config.schema.yaml`` (types, ranges, defaults),
after :func:`check_keys` has named unknown keys (with the key they were probably
meant to be) and missing ones; :func:`settings` then resolves paths relative to
the config file and checks what a schema cannot (the chain of tests, the track
against the model, the input files).

The chain of tests (each reads the merged summary of the one before, narrowed as
the paper did; every step can be re-pointed in the config's ``steps``)::

    activity (every TSS) -> context (top genes by activity)
        -> necessity, sufficiency (context-enhancing genes)
            -> distance, multiplicity, fine-tile, higher-order (genes with an
               enhancing tile; the CRE is their strongest tile)
"""
from __future__ import annotations

import difflib
import shlex
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from creme_fast.runs.runner import output_names
from creme_fast.runtime.checksum import WeightsUnreadable, read_metadata_value
from creme_fast.runtime.metadata import METADATA_KEY, ModelMetadata
from creme_fast.synthetic.model import synthetic_model_path

__all__ = ["DEFAULT_STEPS", "TESTS", "WorkflowConfigError", "WorkflowSettings", "check_keys",
           "init", "output_names", "schema_path", "settings"]

TESTS = ("activity", "context", "necessity", "sufficiency", "distance", "multiplicity",
         "higher-order", "fine-tile")
ENHANCING = "track == {track} and category == 'enhancing'"
WITH_ENHANCER = "track == {track} and enhancer_tiles > 0"
# each test's input ("tss": the config's table) and its selection of that input's rows
DEFAULT_STEPS: dict[str, dict[str, Any]] = {
    "activity": {"input": "tss"},
    "context": {"input": "activity", "query": "track == {track}", "top": "{top}",
                "by": "activity"},
    "necessity": {"input": "context", "query": ENHANCING},
    "sufficiency": {"input": "context", "query": ENHANCING},
    "distance": {"input": "necessity", "query": WITH_ENHANCER},
    "multiplicity": {"input": "necessity", "query": WITH_ENHANCER},
    "higher-order": {"input": "necessity", "query": WITH_ENHANCER},
    "fine-tile": {"input": "necessity", "query": WITH_ENHANCER},
}
TRACK_TESTS = ("multiplicity", "higher-order", "fine-tile")  # they follow one track
PATH_KEYS = ("model", "fasta", "tss", "out")
FILES = ("Snakefile", "config.yaml")


class WorkflowConfigError(ValueError):
    """A workflow config that cannot run (the message names the key and the file)."""


def _package_file(name: str) -> Path:
    return Path(str(resources.files("creme_fast.workflow") / name))


def schema_path() -> Path:
    """The JSON schema (YAML) of the workflow's config."""
    return _package_file("config.schema.yaml")


def init(directory: str | Path, force: bool = False) -> list[Path]:
    """Write the shipped ``Snakefile`` and ``config.yaml`` into ``directory``.

    Raises
    ------
    FileExistsError
        A file would be replaced (and not ``force``).
    """
    directory = Path(directory)
    targets = [directory / name for name in FILES]
    existing = [t for t in targets if t.exists()]
    if existing and not force:
        raise FileExistsError(f"{existing[0]} exists; choose another directory, or --force "
                              "to replace the workflow's files")
    directory.mkdir(parents=True, exist_ok=True)
    for target in targets:
        target.write_bytes(_package_file(target.name).read_bytes())
    return targets


def _load_schema() -> dict[str, Any]:
    import yaml  # Snakemake's dependency: the workflow runs where Snakemake is

    return yaml.safe_load(schema_path().read_text())


def check_keys(config: dict[str, Any], source: str) -> None:
    """Unknown keys (a typo such as ``modle``) and required keys that are missing or
    empty, all named at once, before the schema checks types.

    Raises
    ------
    WorkflowConfigError
    """
    schema = _load_schema()
    known = list(schema["properties"])
    problems = []
    for key in config:
        if key not in schema["properties"]:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"unknown key {key!r}{hint}")
    steps = config.get("steps") or {}
    if isinstance(steps, dict):
        step_keys = list(schema["properties"]["steps"]["additionalProperties"]["properties"])
        for test, step in steps.items():
            if test not in TESTS:
                problems.append(f"steps: unknown test {test!r} (one of {', '.join(TESTS)})")
            elif isinstance(step, dict):
                problems += [f"steps: {test}: unknown key {k!r} (one of {', '.join(step_keys)})"
                             for k in step if k not in step_keys]
    for key in schema["required"]:
        if config.get(key) in (None, ""):
            state = "is empty" if key in config else "is missing"
            problems.append(f"{key!r} is a required property ({state})")
    if problems:
        raise WorkflowConfigError(f"{source}: " + "; ".join(problems))


@dataclass(frozen=True)
class WorkflowSettings:
    """A checked config: absolute paths, the tests to run, and each test's input and
    command-line selection."""

    config: dict[str, Any]
    model: str
    fasta: str
    tss: str
    out: str
    tests: tuple[str, ...]
    inputs: dict[str, str]  # test -> "tss" or the test whose summary it reads
    shards: dict[str, int]

    def outputs_by_files(self) -> dict[tuple[str, ...], list[str]]:
        """The tests to run grouped by the files their merged run writes."""
        groups: dict[tuple[str, ...], list[str]] = {}
        for test in self.tests:
            groups.setdefault(tuple(output_names(test)), []).append(test)
        return groups

    def table(self, test: str) -> str:
        """The TSS table ``test`` reads: the config's, or a merged summary."""
        source = self.inputs[test]
        return self.tss if source == "tss" else f"{self.out}/{source}/summary.parquet"

    def selection(self, test: str) -> str:
        """The selection options of ``test``, shell-quoted."""
        step = {**DEFAULT_STEPS[test], **(self.config["steps"].get(test) or {})}
        args: list[str] = []
        for key in ("query", "top", "by"):
            if step.get(key) not in (None, ""):
                value = (str(step[key]).replace("{track}", str(self.config["track"]))
                         .replace("{top}", str(self.config["top"])))
                args += [f"--{key}", value]
        if test in TRACK_TESTS:
            args += ["--track", str(self.config["track"])]
        if test == "higher-order":
            args += ["--rounds", str(self.config["rounds"])]
        line = " ".join(shlex.quote(a) for a in args)
        extra = (self.config["steps"].get(test) or {}).get("extra", "")
        return f"{line} {extra}".strip()

    def settings(self) -> str:
        """The options every ``creme-fast run`` of the workflow takes, shell-quoted."""
        c = self.config
        args = ["--model", self.model, "--tile-size", c["tile_size"], "--shuffles",
                c["shuffles"], "--seed", c["seed"], "--batch-size", c["batch_size"],
                "--chunk-loci", c["chunk_loci"], "--progress-interval", c["progress_interval"]]
        return " ".join(shlex.quote(str(a)) for a in args) + (f" {c['extra']}" if c["extra"]
                                                               else "")


def _resolve(value: str, base: Path) -> str:
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def settings(config: dict[str, Any], config_file: str | Path | None) -> WorkflowSettings:
    """Resolve and check a config that passed the schema.

    Paths (``model``, ``fasta``, ``tss``, ``out``) are relative to the directory of
    ``config_file`` (the last ``--configfile``); ``model: synthetic`` is the
    built-in model.

    Raises
    ------
    WorkflowConfigError
        A test whose input test is not run, a missing input file, or a ``track``
        the model does not output (each naming the key).
    """
    source = str(config_file) if config_file else "the config"
    base = Path(config_file).resolve().parent if config_file else Path.cwd()
    paths = {k: _resolve(str(config[k]), base) for k in PATH_KEYS}
    if config["model"] == "synthetic":
        paths["model"] = "synthetic"
    for key in ("model", "fasta", "tss"):
        if paths[key] != "synthetic" and not Path(paths[key]).is_file():
            raise WorkflowConfigError(f"{source}: {key}: {paths[key]} does not exist (paths "
                                      "are relative to the config file)")
    tests = tuple(dict.fromkeys(config["tests"]))
    inputs: dict[str, str] = {}
    for test in tests:
        step = {**DEFAULT_STEPS[test], **(config["steps"].get(test) or {})}
        source_test = step["input"]
        if source_test != "tss" and source_test not in TESTS:
            raise WorkflowConfigError(f"{source}: steps: {test}: input {source_test!r} is "
                                      f"neither 'tss' nor a test ({', '.join(TESTS)})")
        if source_test != "tss" and source_test not in tests:
            raise WorkflowConfigError(f"{source}: {test} reads the summary of {source_test}, "
                                      f"which tests does not run: add {source_test} to tests, "
                                      f"or give steps: {{{test}: {{input: tss}}}}")
        inputs[test] = source_test
    _check_cycles(inputs, source)
    _check_track(paths["model"], int(config["track"]), source)
    shards = {t: int((config["steps"].get(t) or {}).get("shards", config["shards"]))
              for t in tests}
    return WorkflowSettings(config=config, model=paths["model"], fasta=paths["fasta"],
                            tss=paths["tss"], out=paths["out"], tests=tests, inputs=inputs,
                            shards=shards)


def _check_cycles(inputs: dict[str, str], source: str) -> None:
    for test in inputs:
        seen, current = [test], inputs[test]
        while current != "tss":
            if current in seen:
                raise WorkflowConfigError(f"{source}: steps: the inputs form a loop "
                                          f"({' -> '.join(seen + [current])})")
            seen.append(current)
            current = inputs[current]


def _check_track(model: str, track: int, source: str) -> None:
    """``track`` must be a track the model outputs (an original index of an export
    pruned to some tracks); read from the export's metadata without loading it."""
    path = synthetic_model_path() if model == "synthetic" else Path(model)
    try:
        text = read_metadata_value(path, METADATA_KEY)
    except WeightsUnreadable as exc:
        raise WorkflowConfigError(f"{source}: model: {path} is not an ONNX file ({exc})") \
            from None
    if text is None:
        return  # not a creme-fast export: `creme-fast run` checks --track against its output
    meta = ModelMetadata.from_json(text, str(path))
    tracks = list(meta.tracks) if meta.tracks is not None else list(range(meta.n_tracks))
    if track not in tracks:
        shown = (f"0..{meta.n_tracks - 1}" if meta.tracks is None
                 else ", ".join(map(str, tracks[:10])) + (", ..." if len(tracks) > 10 else ""))
        raise WorkflowConfigError(f"{source}: track: {track} is not a track of {path.name} "
                                  f"(it outputs tracks {shown})")
