"""The ONNX Runtime predictor: a creme-fast export (or any sequence ONNX graph)."""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np

from creme_fast.runtime.base import check_batch
from creme_fast.runtime.binding import (
    BoundRunner,
    CudaGraphError,
    OutputSelection,
    check_buckets,
    check_cuda_graph,
    cuda_graph_options,
)
from creme_fast.runtime.checksum import (
    WeightsUnreadable,
    external_data_tensors,
    weights_sha256,
    weights_sha256_of_bytes,
)
from creme_fast.runtime.gpu_batch import (
    GpuBatchLimit,
    device_memory_bytes,
    gpu_batch_limit,
    graph_sizes,
)
from creme_fast.runtime.incremental import OnnxIncremental
from creme_fast.runtime.metadata import METADATA_KEY, InputKind, ModelMetadata
from creme_fast.runtime.placement import (
    MAX_CPU_FLOP_SHARE,
    Placement,
    check_placement,
    input_shapes,
    placement_of,
    record_assignment,
    session_assignment,
)
from creme_fast.runtime.providers import (
    CUDA,
    GPU_PROVIDERS,
    TENSORRT,
    provider_options,
    resolve_providers,
    skipped_providers,
)
from creme_fast.runtime.session_options import runtime_session_options, share_cpu_arena

log = logging.getLogger(__name__)

__all__ = ["OnnxPredictor", "drop_model_bytes", "import_onnxruntime", "share_cpu_arena"]

_ORT_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16,
               "tensor(uint8)": np.uint8}


def import_onnxruntime() -> Any:
    """Import onnxruntime, or explain how to install it."""
    try:
        import onnxruntime
    except ImportError:
        raise ImportError("ONNX Runtime is not installed: pip install 'creme-fast[cpu]' "
                          "(CPU) or 'creme-fast[gpu]' (CUDA/TensorRT)") from None
    return onnxruntime


@functools.cache
def drop_model_bytes(session: Any) -> None:
    """Let a CPU session built from bytes stop holding them.

    ONNX Runtime's Python ``InferenceSession`` keeps the model bytes it was built
    from (``_model_bytes``, "holding the memory indefinitely" in its own words)
    only to rebuild itself on another provider after a failed run; on the CPU
    provider there is nothing to fall back to. For the published Enformer that is
    a second copy of the weights: 0.60 GiB more per tower session, 1.6 GiB for
    the main graph and the pieces (benchmarks/RESULTS.md, issue 17).
    """
    if getattr(session, "_model_bytes", None) is not None:
        session.disable_fallback()
        session._model_bytes = None


class OnnxPredictor:
    """Run an ONNX graph with the best execution provider present.

    Parameters
    ----------
    path : str or pathlib.Path
        A creme-fast export (its metadata is read and enforced), or any graph
        whose single input is one-hot ``(B, L, 4)`` float or tokens ``(B, L)``
        uint8 and whose output is ``(B, bins, tracks)``.
    providers : str or sequence of str, optional
        None/"auto" picks TensorRT > CUDA > CPU among those available; or name
        them (``"cuda"``, ``"cpu"``, ...). A named provider that cannot be used
        is an error, not a silent fall-back.
    device_id : int, default=0
        GPU for CUDA/TensorRT.
    threads : int, optional
        Intra-op threads (CPU); default: ONNX Runtime's choice.
    trt_cache_dir : str, optional
        TensorRT engine and timing cache directory (engines take minutes to build).
    trt_fp16 : bool, default=False
        Let TensorRT run in fp16.
    io_binding : bool, optional
        Bind reused device buffers (default: on for CUDA/TensorRT).
    seq_length : int, optional
        Needed only for a graph without creme-fast metadata and without a
        static length.
    incremental : bool, default=True
        Load the export's trunk and tower graphs (when it has them) for
        incremental evaluation; False never loads them.
    files : mapping of str to bytes, optional
        The graph's bytes (and its pieces'), by file name, already read (e.g.
        sent by a Ray driver); used instead of reading the files.
    tracks, bins : list of int, optional
        Output tracks and bins to keep, as positions in the graph's output; on
        the bound (GPU) path they are kept on the device and only they are
        copied to the host (:mod:`creme_fast.runtime.binding`). The
        incremental tower applies them too.
    bin_reduce : {"none", "mean"}, default="none"
        Average the kept bins.
    buckets : sequence of int, optional
        Batch sizes the bound path runs at (see :meth:`use_buckets`); default:
        the sizes it is given.
    cuda_graph : bool, default=False
        Capture the main graph as a CUDA graph (needs the CUDA provider, one
        bucket, every node on CUDA; refused otherwise).
    allow_cpu_nodes : bool, default=False
        With a GPU provider named in ``providers``, accept a session whose CPU
        part does model work (see :mod:`creme_fast.runtime.placement`); by
        default that is an error. ``auto`` only warns.

    Raises
    ------
    ValueError
        The weights differ from the checksum the export recorded (a corrupt
        or altered file): every load checks the bytes it hands to ONNX Runtime.
    creme_fast.runtime.placement.CpuNodesError
        (a ValueError) A GPU provider named in ``providers`` would leave model
        work to the CPU and ``allow_cpu_nodes`` is false.

    Attributes
    ----------
    provider : str
        The provider the session runs on.
    placement : dict of str to Placement or None
        Per graph loaded on a GPU provider (the main graph, then the pieces):
        nodes and FLOPs per provider, from the session's own assignment (None:
        this ONNX Runtime cannot report it).
    metadata : ModelMetadata or None
    incremental : OnnxIncremental or None
        Trunk rows of windows and the tower on rows (see
        :mod:`creme_fast.runtime.incremental`), loaded on first use; None when
        the export has no pieces.
    gpu_limit : GpuBatchLimit or None
        On a GPU provider, the largest batch the main graph may run and why
        (:mod:`creme_fast.runtime.gpu_batch`): ``predict`` never runs more rows
        in one call, and the engine fits its batch size to it. None on the CPU.
    """

    def __init__(self, path: str | Path, *, providers: str | list[str] | None = None,
                 device_id: int = 0, threads: int | None = None,
                 trt_cache_dir: str | Path | None = None, trt_fp16: bool = False,
                 io_binding: bool | None = None, seq_length: int | None = None,
                 incremental: bool = True, files: dict[str, bytes] | None = None,
                 tracks: list[int] | None = None, bins: list[int] | None = None,
                 bin_reduce: str = "none", buckets: list[int] | None = None,
                 cuda_graph: bool = False, allow_cpu_nodes: bool = False) -> None:
        ort = import_onnxruntime()
        self.path = Path(path)
        self._files = dict(files or {})
        if self.path.name not in self._files and not self.path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {self.path}")
        self.selection = OutputSelection.of(bins, tracks, bin_reduce)
        available = ort.get_available_providers()
        chosen, explicit = resolve_providers(providers, available)
        options = [provider_options(p, device_id=device_id, trt_cache_dir=trt_cache_dir,
                                    trt_fp16=trt_fp16) for p in chosen]
        strict = explicit and chosen[0] in GPU_PROVIDERS and not allow_cpu_nodes
        self.placement: dict[str, Placement | None] = {}

        def make_session(path: Path, data: bytes, mem_pattern: bool | None = None,
                         fixed_batch: tuple[str, int] | None = None,
                         cuda_graph: bool = False) -> Any:
            so = runtime_session_options(ort, threads=threads, mem_pattern=mem_pattern,
                                         on_cpu=chosen[0] == "CPUExecutionProvider")
            record_assignment(so)  # which provider runs each node (placement below)
            if fixed_batch is not None:  # static shapes: one bucket, one CUDA graph
                so.add_free_dimension_override_by_name(*fixed_batch)
            run_options = [cuda_graph_options(o) if p == CUDA and cuda_graph else o
                           for p, o in zip(chosen, options)]
            try:
                session = ort.InferenceSession(data, sess_options=so, providers=chosen,
                                               provider_options=run_options)
            except Exception as exc:  # ORT raises its own pybind exception types
                raise ValueError(f"{path}: ONNX Runtime cannot load this model: "
                                 f"{str(exc).strip()}") from None
            if chosen[0] == "CPUExecutionProvider":
                drop_model_bytes(session)
            used = session.get_providers()[0]
            if used in GPU_PROVIDERS:  # no silent fallback, down to the node
                self.placement[path.name] = self._placement(session, data, path)
                check_placement(self.placement[path.name], strict=strict, provider=used,
                                max_cpu_flop_share=MAX_CPU_FLOP_SHARE)
            return session

        self._make_session = make_session
        data = self.read(self.path)  # read once: what is checked is what runs
        refuse_external_data(data, self.path)
        self.session = make_session(self.path, data)
        # the graph's own batch axis (a CUDA graph session fixes it; use_buckets)
        self._batch_axis = self.session.get_inputs()[0].shape[0]
        self.provider = self.session.get_providers()[0]
        if explicit and self.provider != chosen[0]:
            raise RuntimeError(f"{self.path}: {chosen[0]} was requested but ONNX Runtime "
                               f"fell back to {self.provider} (are the CUDA/cuDNN/TensorRT "
                               "libraries on the library path?)")
        if not explicit:  # auto: say why each better provider was skipped
            by_reason: dict[tuple[str, bool], list[str]] = {}
            for name, why in skipped_providers(available, self.provider).items():
                by_reason.setdefault(why, []).append(name)
            for (reason, fault), names in by_reason.items():
                log.log(logging.WARNING if fault else logging.INFO,
                        "provider auto: %s skipped: %s", " and ".join(names), reason)
        log.info("%s: running on %s", self.path.name, self.provider)
        self.device_id = device_id
        self._read_signature(seq_length)
        if self.metadata is not None and self.metadata.checksum:
            check_weights(data, self.metadata.checksum, self.path,
                          self.metadata.checksum_version)
        self.gpu_limit: GpuBatchLimit | None = None
        if self.provider in GPU_PROVIDERS:
            self.gpu_limit = self._gpu_limit(data, device_id)
        del data
        if not self.selection.empty:
            self.selection.check(*self._output_shape(1)[1:], str(self.path))
        on_gpu = self.provider in (CUDA, TENSORRT)
        self.io_binding = on_gpu if io_binding is None else bool(io_binding)
        self._runner: BoundRunner | None = None
        self.buckets: tuple[int, ...] | None = None
        self._want_incremental = bool(incremental)
        self._incremental: OnnxIncremental | None = None
        self._incremental_error: Exception | None = None
        self._captured = False  # the main session is a CUDA graph capture (use_buckets)
        if buckets is not None or cuda_graph:
            self.use_buckets(buckets, cuda_graph=cuda_graph)

    @property
    def incremental(self) -> OnnxIncremental | None:
        entry = self.metadata.incremental if self.metadata is not None else None
        if not self._want_incremental or not entry:
            return None
        if self._incremental_error is not None:
            raise self._incremental_error
        if self._incremental is None:
            try:
                self._incremental = OnnxIncremental(self.path, entry, self._make_session,
                                                    self.input_kind, self.input_dtype,
                                                    self.read, self.selection)
            except (OSError, ValueError) as exc:  # checked once, reported every time
                self._incremental_error = exc
                raise
            finally:
                self._files.clear()
        return self._incremental

    def read(self, path: Path) -> bytes:
        """The bytes of the graph ``path`` (or of a piece beside it): as given in
        ``files``, else read from disk."""
        if path.name in self._files:
            return self._files.pop(path.name) if path == self.path else self._files[path.name]
        if not path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {path}")
        return path.read_bytes()

    def _read_signature(self, seq_length: int | None) -> None:
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ValueError(f"{self.path}: expected one input and one output, found "
                             f"{len(inputs)} and {len(outputs)}")
        graph_in, graph_out = inputs[0], outputs[0]
        meta_text = self.session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        self.metadata = ModelMetadata.from_json(meta_text, str(self.path)) if meta_text else None
        self.input_name, self.output_name = graph_in.name, graph_out.name
        if graph_in.type not in _ORT_DTYPES:
            raise ValueError(f"{self.path}: input {graph_in.name!r} has type {graph_in.type}; "
                             "expected float, float16 or uint8")
        self.input_dtype = np.dtype(_ORT_DTYPES[graph_in.type])
        shape = graph_in.shape
        kind: InputKind = "tokens" if self.input_dtype == np.uint8 else "onehot"
        if (kind == "tokens" and len(shape) != 2) or (kind == "onehot" and (
                len(shape) != 3 or shape[2] != 4)):
            raise ValueError(f"{self.path}: input {graph_in.name!r} has shape {shape}; expected "
                             "(batch, L, 4) float one-hot or (batch, L) uint8 tokens")
        static_length = shape[1] if isinstance(shape[1], int) else None
        if self.metadata is not None:
            length = self.metadata.seq_length
            if self.metadata.input_kind != kind:
                raise ValueError(f"{self.path}: metadata says input kind "
                                 f"{self.metadata.input_kind!r} but the graph takes {kind!r}")
        else:
            length = seq_length if seq_length is not None else static_length
            if length is None:
                raise ValueError(f"{self.path}: the input length is not fixed in the graph and "
                                 "there is no creme-fast metadata; pass seq_length")
        if static_length is not None and static_length != length:
            raise ValueError(f"{self.path}: graph input length {static_length} disagrees "
                             f"with {length}")
        self.seq_length: int = int(length)
        self.input_kind: InputKind = kind

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Predict a batch.

        Parameters
        ----------
        batch : numpy.ndarray
            One-hot ``(B, L, 4)`` float32/float16 or tokens ``(B, L)`` uint8, as
            ``input_kind`` says; one-hot is cast to the graph's dtype if needed.

        Returns
        -------
        numpy.ndarray of float32, shape=(B, bins, tracks)
        """
        batch = check_batch(batch, self.seq_length, self.input_kind, str(self.path))
        if batch.dtype != self.input_dtype:
            batch = batch.astype(self.input_dtype)
        largest = self.gpu_limit.largest if self.gpu_limit is not None else None
        if largest is not None and len(batch) > largest:  # never over the GPU's limit
            return np.concatenate([self.predict(batch[start:start + largest])
                                   for start in range(0, len(batch), largest)])
        if self.io_binding:
            return self._bound().run(batch)
        out = self.session.run([self.output_name], {self.input_name: batch})[0]
        return self.selection.apply(np.asarray(out, dtype=np.float32), str(self.path))

    def _bound(self) -> BoundRunner:
        """The IO-binding runner (made on first use): buffers on the session's device."""
        if self._runner is None:
            device = "cuda" if self.provider in (CUDA, TENSORRT) else "cpu"
            tail = (self.seq_length,) if self.input_kind == "tokens" else (self.seq_length, 4)
            self._runner = BoundRunner(
                self.session, input_name=self.input_name, output_name=self.output_name,
                input_tail=tail, per_sequence=self._output_shape(1)[1:],
                input_dtype=self.input_dtype, device=device, device_id=self.device_id,
                buckets=self.buckets, selection=self.selection,
                make_selector=lambda data: self._make_session(
                    Path(f"{self.path.stem}.selection.onnx"), data),
                name=str(self.path))
        return self._runner

    def use_buckets(self, buckets: list[int] | None, *, cuda_graph: bool = False) -> None:
        """Run the bound path at fixed batch sizes (padding the rest; see
        :func:`creme_fast.runtime.binding.bucket_calls`), optionally as a CUDA graph.

        Parameters
        ----------
        buckets : list of int or None
            Batch sizes; None: the sizes ``predict`` is given.
        cuda_graph : bool, default=False
            Rebuild the main session with its batch fixed to the one bucket and
            ORT's CUDA graph capture on.

        Raises
        ------
        creme_fast.runtime.binding.CudaGraphError
            (a ValueError) CUDA graphs cannot hold here; the reason is named
            (provider, buckets, IO binding, or nodes that ONNX Runtime leaves
            off CUDA even with the batch fixed). The predictor is unchanged.
        """
        buckets_ = check_buckets(buckets)
        if cuda_graph:
            check_cuda_graph(self.provider, buckets_, self.io_binding, str(self.path))
        if buckets_ is not None and not self.io_binding:
            raise ValueError(f"{self.path}: batch buckets are a feature of the bound path "
                             "(IO binding, on by default on a GPU); pass io_binding=True")
        limit = self.gpu_limit
        if buckets_ is not None and limit is not None and buckets_[-1] > limit.largest:
            raise ValueError(f"{self.path}: batch bucket {buckets_[-1]} is over the largest "
                             f"batch {limit.provider} can run with this model, "
                             f"{limit.largest}: {limit.describe(buckets_[-1])}")
        if cuda_graph:
            self.session = self._cuda_graph_session(buckets_[0])
            self._captured = True
        elif self._captured:  # back to the graph's own batch axis
            self.session = self._plain_session()
            self._captured = False
        self.buckets = buckets_
        self._runner = None

    def _cuda_graph_session(self, bucket: int) -> Any:
        """The main graph with its batch fixed to ``bucket`` and CUDA graphs on; a clear
        refusal, naming what runs off CUDA, where ONNX Runtime cannot capture it."""
        batch_axis = self._batch_axis  # the graph's, not a previous capture's fixed one
        if not isinstance(batch_axis, str):
            if batch_axis != bucket:
                raise CudaGraphError(f"{self.path}: the graph's batch is fixed at "
                                     f"{batch_axis}; the bucket must be {batch_axis}")
            fixed = None
        else:
            fixed = (batch_axis, bucket)
        data = self.path.read_bytes()
        if self.metadata is not None and self.metadata.checksum:
            check_weights(data, self.metadata.checksum, self.path)
        current = self.placement.get(self.path.name)
        try:
            return self._make_session(self.path, data, fixed_batch=fixed, cuda_graph=True)
        except ValueError as exc:
            refused = str(exc)
        try:  # the same session without capture, to say which nodes ran off CUDA
            self._make_session(self.path, data, fixed_batch=fixed)
        except ValueError as exc:
            refused += f"; {exc}"
        placement = self.placement.get(self.path.name)
        self.placement[self.path.name] = current  # the session in use is unchanged
        off = "" if placement is None else f" ({placement.describe()})"
        raise CudaGraphError(f"{self.path}: ONNX Runtime refused CUDA graphs at batch "
                             f"{bucket}: they need every node on CUDA{off}: {refused}")

    def _plain_session(self) -> Any:
        """The main graph's session as first made (its own batch axis, no capture)."""
        data = self.path.read_bytes()
        if self.metadata is not None and self.metadata.checksum:
            check_weights(data, self.metadata.checksum, self.path)
        return self._make_session(self.path, data)

    def _gpu_limit(self, data: bytes, device_id: int) -> GpuBatchLimit | None:
        """The main graph's batch limit on this GPU session (None where shape
        inference cannot size it: then only ONNX Runtime's own errors limit it)."""
        try:
            shapes = input_shapes(self.session, {"length": self.seq_length})
            sizes = graph_sizes(data, shapes, self.path.name)
        except (ImportError, ValueError, KeyError) as exc:
            log.warning("%s: its tensor sizes are unknown (%s); the batch size is not "
                        "checked against %s's limits", self.path.name, exc, self.provider)
            return None
        device = device_memory_bytes(device_id)
        limit = gpu_batch_limit(sizes, self.provider, device)
        if limit is not None:
            log.info("%s: at most %d sequences per call on %s (%s%s)", self.path.name,
                     limit.largest, self.provider, limit.elements_reason(),
                     "; " + limit.memory_reason() if device is not None else
                     "; device memory unknown (nvidia-smi): not checked")
        return limit

    def _placement(self, session: Any, data: bytes, path: Path) -> Placement | None:
        """Nodes and FLOPs per provider of a session made from ``data``, at batch 1."""
        assignment = session_assignment(session)
        if assignment is None:
            return None
        sizes = {"length": getattr(self, "seq_length", 0)}
        try:
            shapes = input_shapes(session, sizes)
        except ValueError as exc:
            log.debug("%s: placement without costs: %s", path.name, exc)
            shapes = {}
        return placement_of(assignment, data, shapes, path.name)

    def _output_shape(self, size: int) -> tuple[int, int, int]:
        if self.metadata is not None:
            return size, self.metadata.n_bins, self.metadata.n_tracks
        shape = self.session.get_outputs()[0].shape
        if not all(isinstance(d, int) for d in shape[1:]):
            raise ValueError(f"{self.path}: output shape {shape} is not static; "
                             "io_binding needs it, pass io_binding=False")
        return (size, *shape[1:])

    def __repr__(self) -> str:
        return (f"OnnxPredictor({str(self.path)!r}, provider={self.provider!r}, "
                f"seq_length={self.seq_length}, input_kind={self.input_kind!r})")


def refuse_external_data(data: bytes, path: Path) -> None:
    """A graph whose tensors live in external data files is refused by name: creme-fast
    loads (checks, and sends to Ray workers) one self-contained file.

    Raises
    ------
    ValueError
        Naming the file, a tensor stored outside it and how to make it whole.
    """
    try:
        names = external_data_tensors(data)
    except WeightsUnreadable:
        return  # not a protobuf ONNX Runtime reads either: its own error names it
    if names:
        raise ValueError(
            f"{path}: its tensors are stored in external data files ({len(names)}, e.g. "
            f"{names[0]!r}); creme-fast loads one self-contained .onnx file. Re-export it, "
            "or rewrite it whole with onnx: m = onnx.load(PATH); onnx.save(m, OUT, "
            "save_as_external_data=False) (possible below 2 GiB)")


def check_weights(data: bytes, expected: str, path: Path, version: int = 2) -> None:
    """Refuse graph bytes whose tensors do not hash to the checksum their export recorded.

    ``version`` is the export's ``checksum_version``: 1 (exports from before it
    existed) covers the initializers only, which is said in a warning.

    Raises
    ------
    ValueError
        Naming the file: it is corrupt or was altered after the export.
    """
    try:
        got = weights_sha256_of_bytes(data, version)
    except WeightsUnreadable:
        try:
            import onnx
        except ImportError:
            log.warning("%s: its tensors are stored in a form only the onnx package reads; "
                        "their checksum is not checked (pip install onnx)", path)
            return
        got = weights_sha256(onnx.load_from_string(bytes(data)), version)
    if got != expected:
        raise ValueError(f"{path}: weights checksum MISMATCH: the weights are not the ones "
                         "its export recorded (the file is corrupt or was altered after "
                         "the export); re-export the model or restore the file")
    if version < 2:
        log.warning("%s: written by an earlier creme-fast, its checksum covers its "
                    "initializers only, not the values in its Constant nodes; re-export it "
                    "to have every tensor checked", path)
