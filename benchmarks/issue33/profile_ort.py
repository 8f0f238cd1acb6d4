"""ONNX Runtime's side of the issue-33 profile: time by operator type, and session variants.

    python benchmarks/issue33/profile_ort.py EXPORT.onnx --out DIR [--threads 2]
        [--rows profile,levels,threads,layout,memory] [--conv2d CONV2D_TRUNK.onnx]

One process, batch 1, one random genome-like locus (``creme_fast.bench.random_locus``):

* ``profile``: the main graph, the trunk on the whole sequence, the trunk on a 5 kb
  tile's window (6,400 bp with its halo) and the tower, each in a session made as
  the runtime makes it (``--runtime-options``: ``OnnxPredictor``'s own options, or
  the issue-33 settings), ONNX Runtime's profiler on: one warm-up run, then one
  profiled run whose node times are summed by operator type;
* ``levels``: the trunk and the tower at graph optimisation levels disabled /
  basic / extended / all, and the optimised graph each level saves (its operator
  counts: which fusions and layout transforms happened);
* ``threads``: intra-op threads 1 and 2, spinning on and off, ONNX Runtime's own
  default (physical cores, with thread affinity);
* ``layout``: the trunk with every 1-D Conv run as a Conv2d over (B, C, 1, L)
  (``--conv2d``, or rewritten here from the trunk), so ONNX Runtime's NCHWc
  transform can take it;
* ``alloc``: the main graph, ``--repeats`` runs each, with the runtime's options,
  without the memory pattern, with its own arena instead of the shared one, and
  without an arena; the minor page faults of each run are counted (on a VM each
  is a trap to the host).

Prints one line per row and writes ``DIR/ort_rows.json`` (every row, every op-type
table). Timings are wall seconds of ``session.run`` (``time.perf_counter``).
"""
from __future__ import annotations

import argparse
import collections
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort

from creme_fast.bench import random_locus
from creme_fast.machine import describe_cpu, steal_ticks
from creme_fast.runtime.metadata import METADATA_KEY, ModelMetadata
from creme_fast.sequence import one_hot

log = logging.getLogger("profile_ort")
LEVELS = {"disabled": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
          "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
          "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
          "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


def read_metadata(path: Path) -> ModelMetadata:
    model = onnx.load(str(path), load_external_data=False)
    text = next(p.value for p in model.metadata_props if p.key == METADATA_KEY)
    return ModelMetadata.from_json(text)


def options(threads: int | None, *, level: str = "all", spinning: bool = True,
            arena: bool = True, mem_pattern: bool = True, profile_prefix: str | None = None,
            optimized_path: str | None = None, runtime: bool = False,
            runtime_mem_pattern: bool | None = None) -> Any:
    """SessionOptions of one row; ``runtime=True``: the runtime's own
    (``runtime_mem_pattern``: None as the runtime, or forced on/off)."""
    if runtime:
        from creme_fast.runtime.session_options import runtime_session_options

        so = runtime_session_options(ort, threads=threads, mem_pattern=runtime_mem_pattern)
    else:
        so = ort.SessionOptions()
        so.log_severity_level = 3
        if threads is not None:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        so.graph_optimization_level = LEVELS[level]
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        so.enable_cpu_mem_arena = arena
        so.enable_mem_pattern = mem_pattern
    if profile_prefix:
        so.enable_profiling = True
        so.profile_file_prefix = profile_prefix
    if optimized_path:
        so.optimized_model_filepath = optimized_path
    return so


def op_table(profile_file: str) -> dict[str, Any]:
    """Node time by operator type in the last ``model_run`` of an ORT profile."""
    events = json.loads(Path(profile_file).read_text())
    runs = [e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"]
    last = runs[-1]
    lo, hi = last["ts"], last["ts"] + last["dur"]
    by_op: collections.Counter = collections.Counter()
    count: collections.Counter = collections.Counter()
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and lo <= e["ts"] <= hi:
            op = e["args"].get("op_name", "?")
            by_op[op] += e["dur"]
            count[op] += 1
    run_s = last["dur"] / 1e6
    nodes_s = sum(by_op.values()) / 1e6
    return {"run_s": run_s, "nodes_s": nodes_s,
            "ops": [{"op": op, "s": us / 1e6, "share": us / 1e6 / run_s, "nodes": count[op]}
                    for op, us in by_op.most_common()]}


def optimized_ops(path: str) -> dict[str, int]:
    model = onnx.load(path, load_external_data=False)
    return dict(collections.Counter(
        (n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}")
        for n in model.graph.node).most_common())


def conv2d_graph(src: Path, dst: Path) -> Path:
    """``src`` with every 1-D Conv as a Conv2d over (B, C, 1, L): Reshape, Conv, Squeeze."""
    model = onnx.load(str(src))
    inits = {t.name: t for t in model.graph.initializer}
    axes = onnx.helper.make_tensor("issue33_axis2", onnx.TensorProto.INT64, [1], [2])
    # Reshape, not Unsqueeze: ORT 1.32's optimiser dropped an Unsqueeze before a pool's
    # Conv and then ran its NCHWc ReorderInput on the 3-D tensor ("X_rank == 4")
    to4d = onnx.helper.make_tensor("issue33_to4d", onnx.TensorProto.INT64, [4], [0, 0, 1, -1])
    model.graph.initializer.extend([axes, to4d])
    # a weight may feed several Convs (the exporter merges equal constants, through
    # Identity nodes: a random model's pools all start as 2 x identity): point every
    # user at the initializer, convert each weight once, rewrite every user
    alias = {n.output[0]: n.input[0] for n in model.graph.node
             if n.op_type == "Identity" and n.input[0] in inits}
    for node in model.graph.node:
        if node.op_type == "Conv" and node.input[1] in alias:
            node.input[1] = alias[node.input[1]]
    one_d = {n.input[1] for n in model.graph.node
             if n.op_type == "Conv" and n.input[1] in inits and len(inits[n.input[1]].dims) == 3}
    for name in one_d:
        w = onnx.numpy_helper.to_array(inits[name])
        inits[name].CopyFrom(onnx.numpy_helper.from_array(w[:, :, None, :], name))
    nodes = []
    for node in model.graph.node:
        if node.op_type != "Conv" or node.input[1] not in one_d:
            nodes.append(node)
            continue
        w = onnx.numpy_helper.to_array(inits[node.input[1]])
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        new = {"kernel_shape": [1, int(w.shape[3])]}
        if "pads" in attrs:
            new["pads"] = [0, attrs["pads"][0], 0, attrs["pads"][1]]
        for key in ("strides", "dilations"):
            if key in attrs:
                new[key] = [1, attrs[key][0]]
        if "group" in attrs:
            new["group"] = attrs["group"]
        x4, y4 = node.output[0] + "_in4d", node.output[0] + "_out4d"
        nodes.append(onnx.helper.make_node("Reshape", [node.input[0], "issue33_to4d"], [x4]))
        nodes.append(onnx.helper.make_node("Conv", [x4, *node.input[1:]], [y4],
                                           name=node.name, **new))
        nodes.append(onnx.helper.make_node("Squeeze", [y4, "issue33_axis2"], [node.output[0]]))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    del model.graph.value_info[:]
    onnx.save(model, str(dst))
    return dst


class Rows:
    """Runs and records rows; one session alive at a time."""

    def __init__(self, out: Path, threads: int | None, meta: dict) -> None:
        self.out, self.threads, self.rows, self.meta = out, threads, [], meta

    def run(self, label: str, path: Path, feed: np.ndarray, so: Any, **kwargs: Any) -> dict:
        """One row; a row that ONNX Runtime refuses is recorded with its error."""
        try:
            row = self._run(label, path, feed, so, **kwargs)
        except Exception as exc:  # ORT's pybind errors: keep the other rows
            row = {"label": label, "graph": path.name, "error": str(exc).strip()[:500]}
            self.rows.append(row)
            print(f"{label:44s} FAILED: {row['error'][:200]}", flush=True)
        self.save()
        return row

    def save(self) -> None:
        (self.out / "ort_rows.json").write_text(json.dumps(
            {"cpu": describe_cpu(), "onnxruntime": ort.__version__, "threads": self.threads,
             "meta": self.meta, "rows": self.rows}, indent=2))

    def _run(self, label: str, path: Path, feed: np.ndarray, so: Any, *,
             profiled: bool = False, optimized: str | None = None, repeats: int = 1) -> dict:
        t0 = time.perf_counter()
        session = ort.InferenceSession(str(path), sess_options=so,
                                       providers=["CPUExecutionProvider"])
        load_s = time.perf_counter() - t0
        name = session.get_inputs()[0].name
        t0 = time.perf_counter()
        session.run(None, {name: feed})
        first_s = time.perf_counter() - t0
        steal0 = steal_ticks()
        times, faults = [], []
        for _ in range(repeats):
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.perf_counter()
            session.run(None, {name: feed})
            times.append(time.perf_counter() - t0)
            faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
        steal1 = steal_ticks()
        row = {"label": label, "graph": path.name, "input": list(feed.shape), "load_s": load_s,
               "first_run_s": first_s, "run_s": times[-1], "runs_s": times,
               "page_faults": faults,
               "steal": (None if steal0 is None or steal1 is None or steal1[1] == steal0[1]
                         else (steal1[0] - steal0[0]) / (steal1[1] - steal0[1])),
               "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}
        if profiled:
            row["profile"] = op_table(session.end_profiling())
        del session
        if optimized:
            row["optimized_ops"] = optimized_ops(optimized)
        self.rows.append(row)
        top = ""
        if profiled:
            top = "; " + ", ".join(f"{o['op']} {o['s']:.2f}" for o in row["profile"]["ops"][:6])
        runs = " ".join(f"{t:.2f}" for t in times)
        print(f"{label:44s} runs {runs} s (first {first_s:6.2f}, load {load_s:4.1f}; page "
              f"faults/run {faults[-1] / 1e3:,.0f}k){top}", flush=True)
        return row


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rows", default="profile,levels,threads,layout,alloc")
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each 'alloc' row")
    p.add_argument("--alloc", help="which 'alloc' variants, by index (default: all)")
    p.add_argument("--parts", default="main,trunk,window,tower",
                   help="graphs of the 'profile' rows")
    p.add_argument("--trunk-length", type=int, help="bp of the trunk's input in the levels, "
                   "threads and layout rows (default: the whole sequence)")
    p.add_argument("--conv2d", type=Path, help="a Conv2d form of the trunk (default: rewrite)")
    p.add_argument("--trunk", type=Path, help="profile this trunk graph instead of the "
                   "export's (e.g. another export form of the same weights)")
    p.add_argument("--runtime-options", action="store_true",
                   help="profile rows with the runtime's own session options "
                   "(creme_fast.runtime.session_options)")
    p.add_argument("--label", default="")
    args = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = set(args.rows.split(","))
    meta = read_metadata(args.model)
    entry = meta.incremental
    trunk = args.trunk or args.model.parent / entry["trunk"]["file"]
    tower = args.model.parent / entry["tower"]["file"]
    g = entry["geometry"]
    tokens = random_locus(meta.seq_length)[None]
    full_in = tokens if meta.input_kind == "tokens" else one_hot(tokens)
    width = min(meta.seq_length, 6400)
    lo = meta.seq_length // 2 - width // 2 // g["stride"] * g["stride"]
    window_in = full_in[:, lo:lo + width]
    part_in = full_in[:, :args.trunk_length] if args.trunk_length else full_in
    part = f"trunk {part_in.shape[1]:,} bp"
    rows_in = np.random.default_rng(0).standard_normal((1, g["rows"], g["channels"]),
                                                       dtype=np.float32)
    print(f"# {describe_cpu()}; onnxruntime {ort.__version__}; {args.model} {args.label}",
          flush=True)
    r = Rows(args.out, args.threads, {"model": str(args.model), "label": args.label,
                                      "trunk": str(trunk)})
    t = args.threads
    pref = str(args.out / "ortprof")
    if "profile" in wanted:
        for key, label, path, feed, piece in (
                ("main", "main", args.model, full_in, False),
                ("trunk", "trunk full", trunk, full_in, True),
                ("window", "trunk 6.4 kb window", trunk, window_in, True),
                ("tower", "tower", tower, rows_in, True)):
            if key not in args.parts.split(","):
                continue
            so = options(t, mem_pattern=not piece, profile_prefix=pref,
                         runtime=args.runtime_options)
            r.run(f"profile {label}", path, feed, so, profiled=True)
    if "levels" in wanted:
        for level in LEVELS:
            for label, path, feed in ((part, trunk, part_in), ("tower", tower, rows_in)):
                opt = str(args.out / f"optimized_{level}_{path.stem}.onnx")
                r.run(f"level {level}: {label}", path, feed,
                      options(t, level=level, mem_pattern=False, optimized_path=opt),
                      optimized=opt)
    if "threads" in wanted:
        for label, threads, spinning in (("1 thread", 1, True), ("2 threads", 2, True),
                                         ("2 threads, no spinning", 2, False),
                                         ("ORT default threads (affinity)", None, True)):
            for piece, path, feed in ((part, trunk, part_in), ("tower", tower, rows_in)):
                r.run(f"{label}: {piece}", path, feed,
                      options(threads, spinning=spinning, mem_pattern=False))
    if "layout" in wanted:
        conv2d = args.conv2d or conv2d_graph(trunk, args.out / "trunk_conv2d.onnx")
        opt = str(args.out / "optimized_all_trunk_conv2d.onnx")
        r.run(f"Conv2d {part} (all)", conv2d, part_in,
              options(t, mem_pattern=False, optimized_path=opt, profile_prefix=pref),
              profiled=True, optimized=opt)
        r.run(f"Conv2d {part} (extended: no NCHWc)", conv2d, part_in,
              options(t, level="extended", mem_pattern=False))
        r.run(f"Conv1d {part} (all)", trunk, part_in, options(t, mem_pattern=False))
    if "alloc" in wanted:
        variants = (
            ("shared arena, mem pattern (the runtime before issue 33)",
             lambda: options(t, runtime=True, runtime_mem_pattern=True)),
            ("shared arena, no mem pattern (the runtime's options)",
             lambda: options(t, runtime=True)),
            ("own arena, mem pattern", lambda: options(t)),
            ("own arena, no mem pattern", lambda: options(t, mem_pattern=False)),
            ("no arena, no mem pattern", lambda: options(t, arena=False, mem_pattern=False)))
        for i in (range(len(variants)) if args.alloc is None else
                  [int(v) for v in args.alloc.split(",")]):
            label, make = variants[i]
            r.run(f"main: {label}", args.model, full_in, make(), repeats=args.repeats)
    r.save()
    print(f"# wrote {args.out / 'ort_rows.json'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
