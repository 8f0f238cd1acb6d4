"""The README and the documentation site run as written (issue 28).

Every fenced ``bash`` and ``python`` block of README.md and of each page of docs/ is
executed, page after page in reading order, in one workspace: a page's Python
blocks share a namespace (as a reader's session would), its shell commands run
with ``bash`` and must exit 0. The workspace holds small stand-ins under the names
the pages use for files a reader downloads or already has: ``enformer/`` (a tiny
Enformer checkpoint with the published head of 5,313 human tracks, written here in
place of the Hugging Face snapshot), ``targets_human.txt`` (5,313 rows),
``hg38.fa`` (a 530 kb test genome) and ``gencode.annotation.gtf`` (three genes).

A command that cannot run here is matched by one of ``NOT_RUN`` (network, GPUs, a
cluster, an install, or run by another test, each with its reason); every pattern
must match some command, and installs are checked against pyproject's extras. The
site itself is built with ``-W`` (warnings are errors).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# reading order: the README, then the site's pages as its table of contents lists them
PAGES = ["README.md", "docs/installation.md", "docs/tutorials/demo.md",
         "docs/tutorials/enformer-gene.md", "docs/tutorials/genome-screen.md",
         "docs/tutorials/migrating.md", "docs/howto/export.md", "docs/howto/borzoi.md",
         "docs/howto/readout.md", "docs/howto/incremental.md", "docs/howto/precision.md",
         "docs/howto/gpu.md", "docs/howto/ray.md", "docs/reference/results.md",
         "docs/reference/cli.md", "docs/reference/api.md", "docs/architecture.md",
         "docs/benchmarks.md", "docs/citing.md", "docs/index.md"]
# pages of other issues, run by their own tests when they land
OTHERS = {"docs/gallery.md"}

NOT_RUN = {
    r"^hf download EleutherAI/enformer-official-rough --local-dir enformer$":
        "network: enformer/ holds a tiny checkpoint written by this test",
    r"^curl -LO https://raw\.githubusercontent\.com/calico/basenji/master/manuscripts/"
    r"cross2020/targets_human\.txt$": "network: targets_human.txt is a stand-in",
    r"^python3 -m venv \.venv$": "makes a virtual environment (the suite runs in one)",
    r"^\. \.venv/bin/activate$": "activates it",
    r"^pip (un)?install ": "installs: each extra named is checked against pyproject.toml",
    r"^python -m pytest$": ".ci/run runs the test command (tests/test_readme.py)",
    r"^sphinx-build -W -b html docs docs/_build/html$": "test_the_site_builds_strictly",
    r"--provider cuda": "needs an NVIDIA GPU",
    r"--gpus-per-worker 1": "needs GPUs",
    r"^ray start ": "starts a Ray cluster",
    r"--ray auto": "joins a Ray cluster",
    r"^snakemake --cores ": "tests/test_workflow.py runs the workflow end to end",
    r"--precision int8": "the int8 gate costs minutes; tests/test_export_tower.py runs it",
    r"--checkpoint borzoi-replicate-0 ": "network: the published Borzoi snapshot "
        "(tests/test_borzoi.py exports small snapshots through the CLI)",
    r"--model borzoi_cage\.onnx ": "needs that export (minutes and 6 GiB, RESULTS.md)",
    r"--precision (fp16|bf16)": "a GPU's export: bf16 needs the CUDA provider; "
                                "tests/test_half.py runs the fp16/bf16 gate",
    r"^OUT=gpu-dry bash benchmarks/gpu/run\.sh --dry-run$": "from the repository root; "
        "tests/test_gpu_harness.py runs the dry run",
}


def blocks(page: str) -> list[tuple[str, str]]:
    """``(language, code)`` of the page's fenced bash and python blocks, in order."""
    text = (ROOT / page).read_text()
    found = re.findall(r"^```([A-Za-z]*)\n(.*?)^```", text, flags=re.M | re.S)
    return [(lang, code) for lang, code in found if lang in ("bash", "python")]


def commands(code: str) -> list[str]:
    """The commands of a bash block: continuation lines joined, ``&&`` chains split,
    comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", code)
    out = []
    for line in joined.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            out += [part.strip() for part in line.split(" && ")]
    return out


def not_run(command: str) -> str | None:
    return next((why for pattern, why in NOT_RUN.items() if re.search(pattern, command)), None)


def _extras() -> set[str]:
    """The extras pyproject.toml defines (``name = [`` lines of its
    ``[project.optional-dependencies]`` table)."""
    text = (ROOT / "pyproject.toml").read_text()
    table = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    return set(re.findall(r"^([a-z][a-z0-9_-]*) = \[", table, flags=re.M))


# --- the workspace --------------------------------------------------------------------

TINY = dict(dim=48, depth=1, heads=2, output_heads=dict(human=5313, mouse=4),
            target_length=896, attn_dim_key=8, num_downsamples=7, dim_divisible_by=8)

GTF = """\
chr1\tHAVANA\tgene\t120001\t135000\t.\t+\t.\tgene_id "ENSG01"; gene_type "protein_coding"; gene_name "MYC";
chr1\tHAVANA\ttranscript\t120001\t135000\t.\t+\t.\tgene_id "ENSG01"; transcript_id "ENST01"; gene_type "protein_coding"; transcript_type "protein_coding"; gene_name "MYC";
chr2\tHAVANA\tgene\t95001\t105000\t.\t-\t.\tgene_id "ENSG02"; gene_type "protein_coding"; gene_name "GATA2";
chr2\tHAVANA\ttranscript\t95001\t105000\t.\t-\t.\tgene_id "ENSG02"; transcript_id "ENST02"; gene_type "protein_coding"; transcript_type "protein_coding"; gene_name "GATA2";
chr1\tHAVANA\tgene\t150001\t151000\t.\t-\t.\tgene_id "ENSG03"; gene_type "lncRNA"; gene_name "LINC1";
chr1\tHAVANA\ttranscript\t150001\t151000\t.\t-\t.\tgene_id "ENSG03"; transcript_id "ENST03"; gene_type "lncRNA"; transcript_type "lncRNA"; gene_name "LINC1";
"""


def _tiny_enformer(directory: Path) -> None:
    """An Enformer with the published head and output bins but a tiny trunk, its
    weights perturbed so its outputs depend on the input, saved as the snapshot is
    (``config.json`` and ``pytorch_model.bin``)."""
    import torch
    from enformer_pytorch import Enformer

    torch.manual_seed(0)
    model = Enformer.from_hparams(**TINY).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.07)
    model.save_pretrained(directory, safe_serialization=False)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    sys.path.insert(0, str(ROOT / "tests"))
    from genome_fixtures import make_genome

    work = tmp_path_factory.mktemp("docs")
    fasta, _ = make_genome(work)
    fasta.rename(work / "hg38.fa")
    (work / "gencode.annotation.gtf").write_text(GTF)
    _tiny_enformer(work / "enformer")
    names = {4824: "CAGE:PC-3 (stand-in)", 5110: "CAGE:GM12878 (stand-in)",
             5111: "CAGE:K562 (stand-in)"}
    pd.DataFrame({"index": range(5313), "genome": 0,
                  "identifier": [f"T{i}" for i in range(5313)], "file": "-", "clip": 384,
                  "scale": 1, "sum_stat": "sum",
                  "description": [names.get(i, f"track {i}") for i in range(5313)]}
                 ).to_csv(work / "targets_human.txt", sep="\t", index=False)
    return work


# shell commands that already ran in the workspace (a page repeating another's export
# or demo command reuses its output instead of repeating minutes of work)
_DONE: set[str] = set()


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["TQDM_DISABLE"] = "1"
    env.setdefault("MPLBACKEND", "Agg")
    return env


def test_every_page_is_run():
    pages = {str(p.relative_to(ROOT)) for p in DOCS.rglob("*.md") if "_build" not in p.parts}
    assert pages - OTHERS == set(PAGES) - {"README.md"}, "add the page to PAGES"


def test_every_not_run_pattern_matches_a_command_and_installs_name_real_extras():
    all_commands = [c for page in PAGES for lang, code in blocks(page) if lang == "bash"
                    for c in commands(code)]
    for pattern in NOT_RUN:
        assert any(re.search(pattern, c) for c in all_commands), f"unused: {pattern}"
    extras = _extras()
    for command in all_commands:
        if re.match(r"pip install", command):
            for group in re.findall(r"\.\[([a-z,]+)\]", command):
                assert set(group.split(",")) <= extras, command
        if re.match(r"pip install", command) and "--no-deps" not in command:
            assert "-c constraints.txt" in command, command  # torch stays pinned for CI


@pytest.mark.parametrize("page", PAGES)
def test_the_page_runs_as_written(page, workspace, monkeypatch, capsys):
    monkeypatch.chdir(workspace)
    namespace: dict[str, object] = {"__name__": f"docs:{page}"}
    for lang, code in blocks(page):
        if lang == "python":
            exec(compile(code, f"{page} (python block)", "exec"), namespace)
            continue
        for command in commands(code):
            if not_run(command) is not None or command in _DONE:
                continue
            proc = subprocess.run(["bash", "-c", command], cwd=workspace, env=_env(),
                                  capture_output=True, text=True, timeout=900)
            assert proc.returncode == 0, (f"{page}: `{command}` exited {proc.returncode}\n"
                                          f"{proc.stderr[-3000:]}")
            _DONE.add(command)
    capsys.readouterr()


def test_the_site_builds_strictly(tmp_path):
    from sphinx.cmd.build import build_main

    out = tmp_path / "html"
    assert build_main(["-W", "--keep-going", "-q", "-b", "html", str(DOCS), str(out)]) == 0
    cli = (out / "reference" / "cli.html").read_text()
    for command in ("creme-fast run", "creme-fast export", "creme-fast info", "--seq-length",
                    "--bins"):
        assert command in cli, command  # generated from the parsers
    assert "creme_fast.assays.necessity" in (out / "reference" / "api.html").read_text()


def test_the_readme_is_short_and_says_what_users_asked():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) <= 160
    for needed in ("EleutherAI/enformer-official-rough", "targets_human.txt", "4824 (PC-3)",
                   "5110 (GM12878)", "5111 (K562)", "10.1038/s41588-024-01923-3",
                   "CITATION.cff", "**On a GPU** (one H200)"):
        assert needed in text, needed


def test_quoted_timings_come_from_results():
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    quoted = {"README.md": ["33 s", "1.8-2.1 s", "12-14 min", "12.6-14.6x", "about 10 s"],
              "docs/benchmarks.md": ["32.8 s", "12.26 s", "1.83-2.13 s", "4.87 GiB"]}
    for figure in ("32.8 s", "12.26", "1.83", "2.13", "708 s", "822 s", "4.87 GiB",
                   "12.57", "14.64", "**38.1**"):
        assert figure in results, figure
    for page, figures in quoted.items():
        text = (ROOT / page).read_text()
        assert all(f in text for f in figures), page


# --- the result schema lists what a run writes ----------------------------------------

SCHEMA_SECTIONS = {  # test -> the sections of docs/reference/results.md describing it
    "activity": ["activity (run)"], "context": ["context dependence (`context`)"],
    "necessity": ["necessity", "necessity and sufficiency summaries"],
    "sufficiency": ["sufficiency", "necessity and sufficiency summaries"],
    "distance": ["distance"], "multiplicity": ["multiplicity"],
    "higher-order": ["higher-order"], "fine-tile": ["fine-tile"]}


def _sections(page: str) -> dict[str, str]:
    """A page's text by ``## `` heading (``""``: the text before the first)."""
    parts = re.split(r"^## (.*)$", (ROOT / page).read_text(), flags=re.M)
    return {"": parts[0], **dict(zip(parts[1::2], parts[2::2]))}


def test_the_result_schema_lists_every_column_and_file_a_run_writes(tmp_path):
    """Every column of every test's results parts and summary, and every file of its
    run directory, is named (in backticks) on the result schema page, in that test's
    section or among the columns all tables share."""
    sys.path.insert(0, str(ROOT / "tests"))
    from genome_fixtures import make_genome

    make_genome(tmp_path)
    (tmp_path / "tss.tsv").write_text("chrom\ttss\tstrand\tname\nchr1\t120000\t+\tgeneA\n")
    common = ["--model", "synthetic", "--fasta", "genome.fa", "--shuffles", "1",
              "--tile-size", "20000", "--rounds", "1", "-q", "--no-progress"]
    sections = _sections("docs/reference/results.md")
    files_section = sections.get("The files of a run directory", "")
    for test, where in SCHEMA_SECTIONS.items():
        tss = "runs/necessity/summary.parquet" if test in (
            "distance", "multiplicity", "fine-tile", "higher-order") else "tss.tsv"
        argv = [sys.executable, "-m", "creme_fast", "run", test, *common, "--tss", tss,
                "--out", f"runs/{test}"]
        if tss != "tss.tsv":
            argv += ["--query", "track == 0"]
        proc = subprocess.run(argv, cwd=tmp_path, env=_env(), capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        run = tmp_path / "runs" / test
        text = sections[""] + "".join(sections.get(s, "") for s in where)
        parts = sorted((run / "results").glob("*.parquet"))
        columns = set(pd.read_parquet(parts[0]).columns)
        columns |= set(pd.read_parquet(run / "summary.parquet").columns)
        missing = sorted(c for c in columns if f"`{c}`" not in text)
        assert not missing, f"{test}: columns not in docs/reference/results.md: {missing}"
        for path in run.iterdir():
            if path.name.startswith("."):
                continue  # the lock and the run marker
            shown = re.sub(r"track\d+", "track<N>", path.name)
            shown += "/" if path.is_dir() else "`"
            assert f"`{shown}" in files_section, f"{test}: {path.name} not documented"
