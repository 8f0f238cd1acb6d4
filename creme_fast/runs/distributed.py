"""Chunks of a run computed on Ray workers (a local Ray instance or a cluster).

The driver (the process running :func:`~creme_fast.runs.runner.run_over_genome`)
reads the genome, cuts the loci into chunks and writes every file; the workers
are Ray actors that each load the model once and compute whole chunks with
:func:`~creme_fast.runs.executor.run_chunk`. The model's bytes reach the workers
through Ray's object store (no shared filesystem is assumed), and so do the
chunks' tokens and the result frames.

Fault handling: a worker that dies while it holds chunks (a SIGKILL, the OOM
killer, a lost node) is restarted by Ray, and its chunks are sent again, to
another worker when one has room. A chunk that was on a dying worker
``max_attempts`` times fails the run, as do a model that cannot be loaded on a
worker and a worker without the GPU it was promised; none of these hangs.
"""
from __future__ import annotations

import logging
import os
import socket
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from creme_fast.assays.spec import StepConfig
from creme_fast.runs.executor import ChunkResult, ChunkTask, run_chunk

__all__ = ["RayExecutor", "WorkerLost", "check_ray_address", "import_ray"]

log = logging.getLogger(__name__)

_GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


class WorkerLost(RuntimeError):
    """Workers kept dying: a chunk ran out of attempts, or no worker is left."""


def import_ray() -> Any:
    """Import ray, or explain how to install it."""
    try:
        import ray
    except ImportError:
        raise ImportError("Ray is not installed: pip install 'creme-fast[ray]'") from None
    return ray


def check_ray_address(address: str | None) -> None:
    """Refuse what cannot be a Ray address (``None`` starts a local instance).

    Raises
    ------
    ValueError
        ``address`` is not ``local``, ``auto``, ``ray://HOST:PORT`` or ``HOST:PORT``.
    """
    if address is None or address in ("local", "auto") or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--ray {address!r} is not a Ray address; give none (a local "
                         "instance), 'auto' (the cluster this node belongs to), "
                         "ray://HOST:PORT or HOST:PORT")


class _Worker:
    """A Ray actor holding one predictor (defined without Ray; wrapped on start).

    The model's object reference comes with each call (wrapped in a list, so Ray
    passes the reference, not the bytes) rather than to the constructor: a worker
    that Ray restarts loads it again on its first call.
    """

    def __init__(self, name: str, provider: str, threads: int, seq_length: int | None,
                 gpus: float) -> None:
        self.name, self.provider, self.threads = name, provider, threads
        self.seq_length, self.gpus = seq_length, gpus
        self.predictor: Any = None
        self.error: str | None = None
        self.info: dict[str, Any] = {"pid": os.getpid(), "node": socket.gethostname()}

    def _load(self, model: list[Any]) -> None:
        import ray

        if self.predictor is not None or self.error is not None:
            return
        gpu_ids = [str(g) for g in ray.get_gpu_ids()]
        self.info.update(gpu_ids=gpu_ids, provider=None)
        try:
            self.predictor = _load_from_bytes(ray.get(model[0]), self.name, self.provider,
                                              self.threads, self.seq_length)
        except Exception as exc:  # reported by ready(): the driver names the worker
            self.error = f"cannot load the model: {exc}"
            return
        provider = self.info["provider"] = self.predictor.provider
        if self.gpus > 0 and not gpu_ids:
            self.error = f"Ray assigned no GPU although {self.gpus:g} was requested"
        elif self.gpus > 0 and provider not in _GPU_PROVIDERS:
            self.error = (f"promised GPU {','.join(gpu_ids)} but ONNX Runtime runs "
                          f"{self.name} on {provider}: install onnxruntime-gpu with its CUDA "
                          "libraries on this node, or pass --gpus-per-worker 0")

    def ready(self, model: list[Any]) -> dict[str, Any]:
        """Load the model if needed; where this worker runs and whether the model
        loaded (``error``)."""
        self._load(model)
        return {**self.info, "error": self.error}

    def run(self, model: list[Any], test: str, config: StepConfig,
            task: ChunkTask) -> tuple[ChunkResult, float]:
        """One chunk's result (without its task: the driver has it) and model seconds."""
        self._load(model)
        if self.error is not None:
            raise RuntimeError(f"worker on {self.info['node']} (pid {self.info['pid']}): "
                               f"{self.error}")
        start = time.perf_counter()
        result = run_chunk(self.predictor, test, task, config)
        return replace(result, task=None), time.perf_counter() - start


def model_files(model: Path, incremental: bool) -> dict[str, bytes]:
    """The bytes of ``model`` and, if ``incremental``, of the incremental pieces
    written beside it (``NAME.trunk.onnx``, ``NAME.tower.onnx``), by file name."""
    return {model.name: model.read_bytes(), **(piece_files(model) if incremental else {})}


def piece_files(model: Path) -> dict[str, bytes]:
    """The bytes of the incremental pieces beside ``model`` that exist, by file name."""
    return {piece.name: piece.read_bytes() for piece in (model.with_suffix(".trunk.onnx"),
                                                         model.with_suffix(".tower.onnx"))
            if piece.is_file()}


def _load_from_bytes(files: dict[str, bytes], name: str, provider: str, threads: int,
                     seq_length: int | None) -> Any:
    """An OnnxPredictor of a model given as bytes (``files``: file name to bytes, the
    main graph ``name`` and any pieces); the weights checksum and the pieces' sha256
    are checked on these bytes, the ones ONNX Runtime loads (no file is written or
    read again)."""
    from creme_fast.runtime import OnnxPredictor

    predictor = OnnxPredictor(Path(name), providers=provider, threads=threads,
                              seq_length=seq_length, files=files)
    if len(files) > 1:
        try:  # load the pieces now, from the bytes received
            predictor.incremental
        except (OSError, ValueError):  # kept by the predictor, reported on use
            pass
    return predictor


@dataclass
class _Slot:
    """One worker as the driver sees it."""

    actor: Any
    info: dict[str, Any]
    busy: int = 0
    probing: bool = False  # died: waiting for Ray to bring it back
    died_at: float = 0.0


@dataclass
class RayStats:
    """What a :class:`RayExecutor` did (cumulative over its runs)."""

    chunks: int = 0
    retried: int = 0
    worker_seconds: float = 0.0
    restarts: int = 0
    lost_workers: list[int] = field(default_factory=list)
    by_worker: list[int] = field(default_factory=list)  # chunks computed by each worker


class RayExecutor:
    """Compute a run's chunks on Ray actors, each holding one predictor.

    Parameters
    ----------
    model : str or pathlib.Path
        The ONNX model file (read here, sent to the workers through Ray, with
        its incremental pieces ``NAME.trunk.onnx``/``NAME.tower.onnx`` when they
        are beside it).
    workers : int, default=1
        Actors started, each with its own predictor.
    gpus_per_worker : float, default=0
        GPUs reserved per worker, at most 1 (fractions share a GPU); 0 runs CPU
        workers.
    threads_per_worker : int, default=1
        CPUs reserved per worker and ONNX Runtime intra-op threads.
    address : str, optional
        None starts a local Ray instance; ``"auto"``, ``"ray://HOST:PORT"`` or
        ``"HOST:PORT"`` joins a cluster. A process already connected to Ray
        uses that connection.
    provider : str, default="auto"
        ONNX Runtime providers on the workers; ``auto`` means CPU for CPU workers
        and TensorRT > CUDA on GPU workers (which must get a GPU provider).
    seq_length : int, optional
        For a graph without creme-fast metadata (as :class:`OnnxPredictor`).
    chunks_per_worker : int, default=2
        Chunks in flight per worker: one running, one queued behind it.
    max_attempts : int, default=3
        Times a chunk may be on a worker that dies before the run fails.
    max_restarts : int, default=4
        Times Ray restarts each worker.
    start_timeout : float, default=600
        Seconds to wait for every worker to load its model.
    init_options : dict, optional
        Passed to ``ray.init``.
    incremental : bool, default=True
        Send the export's incremental pieces too (False: full passes only, and
        less memory on the workers).
    files : dict of str to bytes, optional
        The bytes to send (file name to bytes, as :func:`model_files` gives),
        when the caller has read and hashed them already: the workers then run
        exactly what the caller hashed, even if the files change meanwhile
        (released once they are in Ray's object store; a later start reads the
        files).

    Notes
    -----
    Use it as a context manager (or call :meth:`close`): the workers are stopped,
    and a Ray instance it started is shut down. :meth:`start` connects and
    loads the model on every worker; call it before writing anything so a bad
    cluster fails first (``run`` calls it when needed).
    """

    def __init__(self, model: str | Path, *, workers: int = 1, gpus_per_worker: float = 0.0,
                 threads_per_worker: int = 1, address: str | None = None,
                 provider: str = "auto", seq_length: int | None = None,
                 chunks_per_worker: int = 2, max_attempts: int = 3, max_restarts: int = 4,
                 start_timeout: float = 600.0,
                 init_options: dict[str, Any] | None = None, incremental: bool = True,
                 files: dict[str, bytes] | None = None) -> None:
        for option, value in (("workers", workers), ("threads_per_worker", threads_per_worker),
                              ("chunks_per_worker", chunks_per_worker),
                              ("max_attempts", max_attempts)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{option} must be a whole number >= 1, got {value!r}")
        gpus = float(gpus_per_worker)
        if not gpus >= 0 or gpus == float("inf"):  # NaN fails ">= 0" too
            raise ValueError(f"gpus_per_worker must be >= 0, got {gpus_per_worker!r}")
        if gpus > 1:
            raise ValueError(f"gpus_per_worker {gpus_per_worker!r}: a worker runs one GPU at "
                             "most (one predictor per GPU); use more workers for more GPUs")
        check_ray_address(address)
        self.model = Path(model)
        self.files = None if files is None else dict(files)
        if files is None and not self.model.is_file():
            raise FileNotFoundError(f"model not found: {self.model}")
        self.workers, self.gpus, self.threads = workers, gpus, threads_per_worker
        self.incremental = bool(incremental)
        self.address = address
        self.provider = "cpu" if self.gpus == 0 and provider == "auto" else provider
        self.seq_length = seq_length
        self.chunks_per_worker, self.max_attempts = chunks_per_worker, max_attempts
        self.max_restarts, self.start_timeout = max_restarts, start_timeout
        self.init_options = dict(init_options or {})
        self.stats = RayStats()
        self._actors: list[Any] = []
        self._slots: list[_Slot] = []
        self._model_ref: Any = None
        self._owns_ray = False

    # --- lifetime -------------------------------------------------------------

    def __enter__(self) -> RayExecutor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        """Connect to Ray, check its resources and start the workers.

        Raises
        ------
        ValueError
            Ray cannot be reached, lacks the CPUs/GPUs asked for, or a worker
            cannot load the model or has no GPU although one was asked for.
        """
        if self._slots:
            return
        ray = import_ray()
        self._connect(ray)
        try:
            self._check_resources(ray)
            files = (self.files if self.files is not None
                     else model_files(self.model, self.incremental))
            if not self.incremental:
                files = {self.model.name: files[self.model.name]}
            self._model_ref = ray.put(files)
            self.files = files = None  # Ray's object store holds them now
            worker = ray.remote(_Worker)
            options = worker.options(num_cpus=self.threads, num_gpus=self.gpus,
                                     max_restarts=self.max_restarts, max_task_retries=0)
            self._actors = [options.remote(self.model.name, self.provider, self.threads,
                                           self.seq_length, self.gpus)
                            for _ in range(self.workers)]
            infos = self._wait_ready(ray, self._actors)
        except BaseException:
            self.close()
            raise
        self._slots = [_Slot(actor, info) for actor, info in zip(self._actors, infos)]
        self.stats.by_worker = [0] * len(self._actors)
        for i, info in enumerate(infos):
            log.info("worker %d: %s pid %d, %s%s", i, info["node"], info["pid"],
                     info["provider"], f" GPU {','.join(info['gpu_ids'])}"
                     if info["gpu_ids"] else "")

    def _connect(self, ray: Any) -> None:
        if ray.is_initialized():
            log.info("using the Ray instance this process is connected to")
            return
        _check_reachable(self.address)
        options = {"logging_level": logging.WARNING, **self.init_options}
        if self.address in (None, "local"):
            options.setdefault("include_dashboard", False)
        try:
            ray.init(address=self.address or "local", **options)
        except (ConnectionError, RuntimeError) as exc:
            raise ValueError(f"cannot connect to Ray at {self.address}: {exc}") from None
        self._owns_ray = True
        log.info("Ray: %s", "local instance" if self.address in (None, "local")
                 else f"cluster at {self.address}")

    def _check_resources(self, ray: Any) -> None:
        """Refuse workers the cluster can never place (they would wait forever)."""
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        cpus = sum(n.get("CPU", 0) for n in nodes)
        gpus = sum(n.get("GPU", 0) for n in nodes)
        what = (f"{self.workers} worker(s) x {self.threads} CPU"
                + (f" x {self.gpus:g} GPU" if self.gpus else ""))
        if not any(n.get("CPU", 0) >= self.threads and n.get("GPU", 0) >= self.gpus
                   for n in nodes):
            raise ValueError(
                f"no Ray node has {self.threads} CPU(s)" + (f" and {self.gpus:g} GPU(s)"
                                                           if self.gpus else "")
                + f" for one worker (nodes: {_describe(nodes)}); lower --threads-per-worker"
                + (" or --gpus-per-worker" if self.gpus else ""))
        if cpus < self.workers * self.threads or gpus < self.workers * self.gpus:
            raise ValueError(f"{what} do not fit in this Ray cluster ({cpus:g} CPUs, "
                             f"{gpus:g} GPUs); lower --workers")

    def _wait_ready(self, ray: Any, actors: list[Any]) -> list[dict[str, Any]]:
        """Every worker's ``ready()``; the first that failed, or a timeout, raises."""
        refs = [a.ready.remote([self._model_ref]) for a in actors]
        infos: dict[Any, dict[str, Any]] = {}
        deadline = time.monotonic() + self.start_timeout
        while len(infos) < len(refs):
            left = deadline - time.monotonic()
            pending = [r for r in refs if r not in infos]
            if left <= 0:
                raise ValueError(
                    f"{len(pending)} of {len(refs)} Ray workers did not start within "
                    f"{self.start_timeout:g} s (free: {_describe([ray.available_resources()])}"
                    "); other jobs may hold the resources")
            done, _ = ray.wait(pending, num_returns=1, timeout=min(left, 30))
            if not done:
                log.info("waiting for %d of %d Ray workers to load the model", len(pending),
                         len(refs))
            for ref in done:
                i = refs.index(ref)
                try:
                    info = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    raise ValueError(f"Ray worker {i} could not start (is creme-fast "
                                     f"installed on every node?): {_first_line(exc)}") from None
                if info["error"] is not None:
                    raise ValueError(f"Ray worker {i} on {info['node']} (pid {info['pid']}): "
                                     f"{info['error']}")
                infos[ref] = info
        return [infos[r] for r in refs]

    def close(self) -> None:
        """Stop the workers (and the Ray instance this executor started)."""
        ray = import_ray()
        for actor in self._actors:
            try:
                ray.kill(actor, no_restart=True)
            except Exception as exc:  # already gone
                log.debug("stopping a worker: %s", exc)
        self._actors, self._slots, self._model_ref = [], [], None
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
        self._owns_ray = False

    def worker_pids(self) -> list[int]:
        """Process ids of the workers, as last reported (a restarted worker's once it is
        back); asking them would wait behind their chunks."""
        return [s.info["pid"] for s in self._slots]

    # --- running chunks -------------------------------------------------------

    def run(self, test: str, config: StepConfig,
            tasks: Iterable[ChunkTask]) -> Iterator[ChunkResult]:
        """Results of ``tasks`` as workers finish them (at most ``chunks_per_worker``
        chunks per worker in flight; ``tasks`` is read only as slots free up)."""
        ray = import_ray()
        self.start()
        source = iter(tasks)
        retry: deque[tuple[ChunkTask, int, int]] = deque()  # task, attempts, avoid
        flight: dict[Any, tuple[ChunkTask, int, int]] = {}  # ref -> task, attempts, slot
        probes: dict[Any, int] = {}  # ref of ready() -> slot being restarted
        exhausted = False
        while True:
            exhausted = self._fill(test, config, source, retry, flight, exhausted)
            if not flight and not probes:
                if retry:
                    raise WorkerLost(f"no Ray worker is left to run {len(retry)} chunk(s)")
                return
            ready, _ = ray.wait([*flight, *probes], num_returns=1)
            ref = ready[0]
            if ref in probes:
                self._probed(ray, ref, probes.pop(ref), probes)
                continue
            task, attempts, index = flight.pop(ref)
            slot = self._slots[index]
            slot.busy -= 1
            try:
                result, seconds = ray.get(ref)
            except (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError,
                    ray.exceptions.ObjectLostError) as exc:  # its worker or node died
                self._lost(ray, task, attempts + 1, index, exc, retry, probes)
                continue
            except ray.exceptions.RayTaskError as exc:  # the step itself raised: as locally
                log.debug("chunk %d failed on worker %d: %s", task.index, index, exc)
                cause = getattr(exc, "cause", None)
                if isinstance(cause, Exception):
                    raise cause from None
                raise
            self.stats.chunks += 1
            self.stats.worker_seconds += seconds
            self.stats.by_worker[index] += 1
            yield replace(result, task=task)

    def _fill(self, test: str, config: StepConfig, source: Iterator[ChunkTask],
              retry: deque[tuple[ChunkTask, int, int]],
              flight: dict[Any, tuple[ChunkTask, int, int]], exhausted: bool) -> bool:
        """Give free worker slots their next chunks: retries first (each waits for a
        worker other than the one it was on, if another is alive), then new ones."""
        for _ in range(len(retry)):
            task, attempts, avoid = retry.popleft()
            index = self._free_slot(avoid)
            if index is None:
                retry.append((task, attempts, avoid))
            else:
                self._submit(test, config, task, attempts, index, flight)
        while not exhausted and (index := self._free_slot(None)) is not None:
            task = next(source, None)
            if task is None:
                return True
            self._submit(test, config, task, 0, index, flight)
        return exhausted

    def _submit(self, test: str, config: StepConfig, task: ChunkTask, attempts: int,
                index: int, flight: dict[Any, tuple[ChunkTask, int, int]]) -> None:
        slot = self._slots[index]
        slot.busy += 1
        flight[slot.actor.run.remote([self._model_ref], test, config, task)] = (
            task, attempts, index)

    def _free_slot(self, avoid: int | None) -> int | None:
        """The least busy usable worker with room (another than ``avoid`` if any)."""
        usable = [i for i, s in enumerate(self._slots)
                  if not s.probing and i not in self.stats.lost_workers
                  and s.busy < self.chunks_per_worker]
        if not usable:
            return None
        others = [i for i in usable if i != avoid]
        if avoid is not None and not others and any(
                i != avoid and i not in self.stats.lost_workers for i in range(len(self._slots))):
            return None  # wait for another worker rather than the one that just died
        return min(others or usable, key=lambda i: self._slots[i].busy)

    def _lost(self, ray: Any, task: ChunkTask, attempts: int, index: int, exc: Exception,
              retry: deque[tuple[ChunkTask, int, int]], probes: dict[Any, int]) -> None:
        """A chunk's worker died: send the chunk again, and wait for Ray to restart it."""
        slot = self._slots[index]
        names = ", ".join(map(str, task.rows["name"].head(5)))
        if attempts >= self.max_attempts:
            raise WorkerLost(f"chunk {task.index} (loci {names}) was on a dying Ray worker "
                             f"{attempts} time(s); giving up (does it exhaust the worker's "
                             f"memory?). Last error: {_first_line(exc)}")
        log.warning("Ray worker %d (pid %s) died with chunk %d (loci %s); running it again",
                    index, slot.info["pid"], task.index, names)
        self.stats.retried += 1
        retry.append((task, attempts, index))
        if not slot.probing:  # its other chunks fail too; ask for the restarted worker once
            slot.probing = True
            slot.died_at = time.monotonic()
            probes[slot.actor.ready.remote([self._model_ref])] = index

    def _probed(self, ray: Any, ref: Any, index: int, probes: dict[Any, int]) -> None:
        """The answer of a worker that died: back (restarted), restarting (ask again),
        or gone for good."""
        slot = self._slots[index]
        try:
            info = ray.get(ref)
        except ray.exceptions.ActorUnavailableError as exc:  # Ray is restarting it
            if time.monotonic() - slot.died_at > self.start_timeout:
                raise WorkerLost(f"Ray worker {index} did not come back within "
                                 f"{self.start_timeout:g} s: {_first_line(exc)}") from None
            time.sleep(0.2)
            probes[slot.actor.ready.remote([self._model_ref])] = index
            return
        except ray.exceptions.RayError as exc:
            slot.probing = False
            self.stats.lost_workers.append(index)
            log.warning("Ray worker %d is gone (%s)", index, _first_line(exc))
            if len(self.stats.lost_workers) == len(self._slots):
                raise WorkerLost(f"every Ray worker died ({_first_line(exc)})") from None
            return
        slot.probing = False
        if info["error"] is not None:
            raise ValueError(f"Ray worker {index} on {info['node']} (pid {info['pid']}), "
                             f"restarted: {info['error']}")
        self.stats.restarts += info["pid"] != slot.info["pid"]
        slot.info = info
        log.info("Ray worker %d is back: %s pid %d", index, info["node"], info["pid"])


def _check_reachable(address: str | None, timeout: float = 10.0) -> None:
    """Refuse a HOST:PORT (or ray://HOST:PORT) that does not answer: ``ray.init``
    would retry it for minutes."""
    if address is None or address in ("local", "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot reach Ray at {address}: {exc} (is `ray start` running "
                         "there, and is the port open?)") from None


def _describe(resources: list[dict[str, Any]]) -> str:
    return "; ".join(", ".join(f"{r.get(k, 0):g} {k}" for k in ("CPU", "GPU"))
                     for r in resources) or "none"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
