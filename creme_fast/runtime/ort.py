"""The ONNX Runtime predictor: a creme-fast export (or any sequence ONNX graph)."""
from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

import numpy as np

from creme_fast.runtime.base import check_batch
from creme_fast.runtime.checksum import WeightsUnreadable, weights_sha256, weights_sha256_of_bytes
from creme_fast.runtime.incremental import OnnxIncremental
from creme_fast.runtime.metadata import METADATA_KEY, InputKind, ModelMetadata
from creme_fast.runtime.providers import CUDA, TENSORRT, provider_options, resolve_providers
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

    Raises
    ------
    ValueError
        The weights differ from the checksum the export recorded (a corrupt
        or altered file): every load checks the bytes it hands to ONNX Runtime.

    Attributes
    ----------
    provider : str
        The provider the session runs on.
    metadata : ModelMetadata or None
    incremental : OnnxIncremental or None
        Trunk rows of windows and the tower on rows (see
        :mod:`creme_fast.runtime.incremental`), loaded on first use; None when
        the export has no pieces.
    """

    def __init__(self, path: str | Path, *, providers: str | list[str] | None = None,
                 device_id: int = 0, threads: int | None = None,
                 trt_cache_dir: str | Path | None = None, trt_fp16: bool = False,
                 io_binding: bool | None = None, seq_length: int | None = None,
                 incremental: bool = True, files: dict[str, bytes] | None = None) -> None:
        ort = import_onnxruntime()
        self.path = Path(path)
        self._files = dict(files or {})
        if self.path.name not in self._files and not self.path.is_file():
            raise FileNotFoundError(f"ONNX model not found: {self.path}")
        chosen, explicit = resolve_providers(providers, ort.get_available_providers())
        options = [provider_options(p, device_id=device_id, trt_cache_dir=trt_cache_dir,
                                    trt_fp16=trt_fp16) for p in chosen]

        def make_session(path: Path, data: bytes, mem_pattern: bool | None = None) -> Any:
            so = runtime_session_options(ort, threads=threads, mem_pattern=mem_pattern,
                                         on_cpu=chosen[0] == "CPUExecutionProvider")
            try:
                session = ort.InferenceSession(data, sess_options=so, providers=chosen,
                                               provider_options=options)
            except Exception as exc:  # ORT raises its own pybind exception types
                raise ValueError(f"{path}: ONNX Runtime cannot load this model: "
                                 f"{str(exc).strip()}") from None
            if chosen[0] == "CPUExecutionProvider":
                drop_model_bytes(session)
            return session

        self._make_session = make_session
        data = self.read(self.path)  # read once: what is checked is what runs
        self.session = make_session(self.path, data)
        self.provider = self.session.get_providers()[0]
        if explicit and self.provider != chosen[0]:
            raise RuntimeError(f"{self.path}: {chosen[0]} was requested but ONNX Runtime "
                               f"fell back to {self.provider} (are the CUDA/cuDNN/TensorRT "
                               "libraries on the library path?)")
        if self.provider != chosen[0]:
            log.warning("%s is available but could not be used; running on %s",
                        chosen[0], self.provider)
        log.info("%s: running on %s", self.path.name, self.provider)
        self.device_id = device_id
        self._read_signature(seq_length)
        if self.metadata is not None and self.metadata.checksum:
            check_weights(data, self.metadata.checksum, self.path)
        del data
        on_gpu = self.provider in (CUDA, TENSORRT)
        self.io_binding = on_gpu if io_binding is None else bool(io_binding and on_gpu)
        self._buffers: dict[int, tuple[Any, Any]] = {}
        self._want_incremental = bool(incremental)
        self._incremental: OnnxIncremental | None = None
        self._incremental_error: Exception | None = None

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
                                                    self.read)
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
        if self.io_binding:
            out = self._run_bound(batch)
        else:
            out = self.session.run([self.output_name], {self.input_name: batch})[0]
        return np.asarray(out, dtype=np.float32)

    def _run_bound(self, batch: np.ndarray) -> np.ndarray:
        """Run with device buffers reused per batch size (CUDA/TensorRT)."""
        ort = import_onnxruntime()
        size = batch.shape[0]
        if size not in self._buffers:
            out_shape = self._output_shape(size)
            self._buffers[size] = (
                ort.OrtValue.ortvalue_from_shape_and_type(batch.shape, batch.dtype, "cuda",
                                                          self.device_id),
                ort.OrtValue.ortvalue_from_shape_and_type(out_shape, np.float32, "cuda",
                                                          self.device_id))
        device_in, device_out = self._buffers[size]
        device_in.update_inplace(batch)
        binding = self.session.io_binding()
        binding.bind_ortvalue_input(self.input_name, device_in)
        binding.bind_ortvalue_output(self.output_name, device_out)
        self.session.run_with_iobinding(binding)
        return device_out.numpy()

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


def check_weights(data: bytes, expected: str, path: Path) -> None:
    """Refuse graph bytes whose weights do not hash to the checksum their export recorded.

    Raises
    ------
    ValueError
        Naming the file: it is corrupt or was altered after the export.
    """
    try:
        got = weights_sha256_of_bytes(data)
    except WeightsUnreadable:
        try:
            import onnx
        except ImportError:
            log.warning("%s: its weights are stored in a form only the onnx package reads; "
                        "their checksum is not checked (pip install onnx)", path)
            return
        got = weights_sha256(onnx.load_from_string(bytes(data)))
    if got != expected:
        raise ValueError(f"{path}: weights checksum MISMATCH: the weights are not the ones "
                         "its export recorded (the file is corrupt or was altered after "
                         "the export); re-export the model or restore the file")
