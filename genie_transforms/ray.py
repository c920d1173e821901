"""Ray Data engine for generation and GeNIe-Ada jobs: a job's chunks spread over a pool of actors on a Ray cluster.

The job is the same as on the local path ([`genie_transforms.jobs`]): the same `job.json` (another model, setting
or source is refused before any work), the same grid of source-row chunks, the same verified parquet chunks and
merge. Ray schedules the chunks: `map_batches` with a pool of actors ([`ChunkWorker`], one generator each, rebuilt
in the actor from its configuration), each taking the next unfinished chunk, so a slow or lost worker's chunks go
to the others. A row's identity is (`source_index`, `label`, `noise_ratio`): its noise comes from the seed, the
source row and the target, so rows do not depend on which actor made them or in which order.

What survives what: a chunk is written whole with its record, or not at all, so a run stopped at any point (Ctrl-C,
kill -9, a lost node) and started again generates only the unfinished chunks. An actor that dies is restarted and
its chunk given again (Ray Data's defaults for actors); an error inside a chunk does not stop the others and is
reported with the chunk's source rows, and the job is not merged until a rerun finishes it.

    from genie_transforms.ray import RayOptions, run_chunks_ray
    stats = run_chunks_ray(ds, fn, features, "s3://bucket/genie-job", config=config, options=RayOptions(num_actors=8))

Needs the `ray` extra (`pip install "genie-transforms[ray]"`).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset, Features
from tqdm.auto import tqdm

from .datasets import MapFunction
from .extras import require
from .jobs import make_chunk, new_stats, shard_chunks, start_job, unfinished
from .storage import Folder

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide a Ray run is.

    Args:
        address (`str`, *optional*): a running cluster (`"auto"`, `"ray://head:10001"`); None starts a local one.
        num_actors (`int`, defaults to 1): actors, each with its own generator.
        gpus_per_actor (`float`, *optional*): GPUs each actor reserves (its device is the GPU Ray gives it); None
            gives 1 when the cluster has GPUs, else 0 (CPU).
        cpus_per_actor (`float`, defaults to 1): CPUs each actor reserves (on CPU, torch's threads in the actor).
    """

    address: str | None = None
    num_actors: int = 1
    gpus_per_actor: float | None = None
    cpus_per_actor: float = 1.0

    def __post_init__(self) -> None:
        if self.num_actors < 1:
            raise ValueError(f"`num_actors` must be >= 1, got {self.num_actors}.")
        if self.cpus_per_actor <= 0 or (self.gpus_per_actor is not None and self.gpus_per_actor < 0):
            raise ValueError(
                f"An actor needs more than 0 CPUs and at least 0 GPUs, got {self.cpus_per_actor} CPUs and "
                f"{self.gpus_per_actor} GPUs."
            )


class ChunkWorker:
    """The callable class of `map_batches`, one per actor: it holds the map function (whose generator loads its
    model once, in the actor, from its configuration) and the source; each batch names chunks, which it generates
    and writes whole with their records. Returns one row per chunk: rows written, skipped source rows, and the
    error (empty when none)."""

    def __init__(
        self, fn: MapFunction, source: Any, out_dir: str, features: dict[str, Any], rows_per_call: int
    ) -> None:
        self.fn, self.source, self.folder = fn, source, Folder(out_dir)
        self.features = Features.from_dict(features)
        self.step = rows_per_call
        check_actor_settings(fn)
        fn.generator.load()  # at the actor's start: a model that cannot load fails here, before any chunk

    def __call__(self, batch: dict[str, Any]) -> dict[str, list]:
        out: dict[str, list] = {"chunk": [], "rows_out": [], "skipped": [], "error": [], "worker": [], "seconds": []}
        for k, start, stop in zip(batch["chunk"], batch["start"], batch["stop"]):
            k, start, stop = int(k), int(start), int(stop)
            edges = [(a, min(stop, a + self.step)) for a in range(start, stop, self.step)]
            began = time.perf_counter()
            try:
                rows, skipped = make_chunk(
                    self.folder,
                    k,
                    ((self.source[a:b], a, b) for a, b in edges),
                    self.fn,
                    self.features,
                    (start, stop),
                )
                error = ""
            except Exception as err:
                rows, skipped = 0, []
                error = "".join(traceback.format_exception_only(type(err), err)).strip()
            out["chunk"].append(k)
            out["rows_out"].append(rows)
            out["skipped"].append(json.dumps(skipped))
            out["error"].append(error)
            out["worker"].append(f"{socket.gethostname()}:{os.getpid()}")
            out["seconds"].append(time.perf_counter() - began)
        return out


def check_actor_settings(fn: MapFunction) -> None:
    """Refuse to run when the generator rebuilt in this actor resolves to other settings than the job recorded on
    the driver (a GPU actor defaults to float16 where the CPU driver resolved float32)."""
    here = fn.generator.settings
    recorded = fn.config["generator"]
    changed = {key: (recorded.get(key), value) for key, value in here.items() if recorded.get(key) != value}
    if changed:
        shown = "; ".join(f"{key}: {a!r} on the driver, {b!r} in the actor" for key, (a, b) in changed.items())
        raise ValueError(
            f"The actor's generator differs from the job's ({shown}). Give the device and dtype explicitly "
            "(--device cuda --dtype float16, or device=/dtype= in from_pretrained) so that the driver records what "
            "the actors run."
        )


def run_chunks_ray(
    ds: Dataset,
    fn: MapFunction,
    features: Features,
    out_dir: str | Path | Folder,
    *,
    config: Mapping[str, Any],
    chunk_size: int = 64,
    rows_per_call: int | None = None,
    options: RayOptions = RayOptions(),
    progress: bool = True,
) -> dict[str, Any]:
    """Run `fn` (a [`genie_map`]/[`genie_ada_map`] function) over every unfinished chunk of the job in `out_dir`
    (a path or a pyarrow filesystem URI) on a Ray cluster; the counts of [`run_chunks`], `errors`: one
    `(chunk, start, stop, message)` per chunk that failed (those chunks stay unfinished), and `worker_seconds`: the
    seconds each actor (`host:pid`) spent making chunks."""
    require("Ray Data", "ray.data", "ray")

    if not isinstance(ds, Dataset):
        raise TypeError(
            "The Ray engine reads a source held on disk (a Dataset); a stream is read by the local engine "
            "(--engine local), or save it first with Dataset.from_generator / save_to_disk."
        )
    try:
        fn.generator.config  # noqa: B018  # the actors rebuild the generator from its configuration
    except ValueError as err:
        raise ValueError(
            "The Ray engine rebuilds the generator in each actor from its configuration, and this one wraps an "
            "in-memory pipeline: build it with GenieGenerator.from_pretrained (a Hub id or a saved folder)."
        ) from err
    folder = Folder.of(out_dir)
    start_job(folder, config, features, len(ds), chunk_size)
    chunks = shard_chunks(len(ds), chunk_size, 1, 0)
    todo = unfinished(folder, chunks)
    stats = {**new_stats(chunks, todo), "errors": [], "worker_seconds": {}}
    if not todo:
        return stats
    with quiet_ray():
        return _run(ds, fn, features, folder, chunks, todo, stats, options, progress, rows_per_call or chunk_size)


def _run(
    ds: Dataset,
    fn: MapFunction,
    features: Features,
    folder: Folder,
    chunks: list[tuple[int, int, int]],
    todo: list[tuple[int, int, int]],
    stats: dict[str, Any],
    options: RayOptions,
    progress: bool,
    rows_per_call: int,
) -> dict[str, Any]:
    import ray
    import ray.data

    started = connect(options)
    try:
        gpus = options.gpus_per_actor
        if gpus is None:
            gpus = 1.0 if ray.cluster_resources().get("GPU", 0) > 0 else 0.0
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False  # ours says what is done
        context.print_on_execution_start = False
        items = ray.data.from_items(
            [{"chunk": k, "start": a, "stop": b} for k, a, b in todo], override_num_blocks=len(todo)
        )
        results = items.map_batches(
            ChunkWorker,
            fn_constructor_args=(fn, ds, folder.where, features.to_dict(), rows_per_call),
            batch_size=1,
            compute=ray.data.ActorPoolStrategy(size=options.num_actors),
            num_cpus=options.cpus_per_actor,
            num_gpus=gpus,
        )
        rows_of = {k: b - a for k, a, b in todo}
        span = {k: (a, b) for k, a, b in todo}
        total = sum(b - a for _, a, b in chunks)
        actors = f"{options.num_actors} actor{'s' if options.num_actors > 1 else ''}"
        with tqdm(
            total=total,
            initial=total - sum(rows_of.values()),
            desc=f"ray, {actors}",
            unit="src",
            disable=not progress,
        ) as bar:
            for row in results.iter_rows():
                k = int(row["chunk"])
                bar.update(rows_of[k])
                busy = stats["worker_seconds"]
                busy[row["worker"]] = busy.get(row["worker"], 0.0) + float(row["seconds"])
                if row["error"]:
                    stats["errors"].append((k, *span[k], row["error"]))
                    continue
                stats["chunks_done"] += 1
                stats["rows_in"] += rows_of[k]
                stats["rows_out"] += int(row["rows_out"])
                stats["skipped_rows"] += json.loads(row["skipped"])
                bar.set_postfix(generated=stats["rows_out"])
        stats["skipped_rows"].sort()
        stats["errors"].sort()
    finally:
        if started:
            ray.shutdown()
    return stats


def connect(options: RayOptions) -> bool:
    """Connect to the cluster at `options.address`, or start a local one; True when this call started Ray (and so
    shuts it down after the run)."""
    import ray

    if ray.is_initialized():
        return False
    local = options.address is None
    cpus = None
    if local:  # logical CPUs: the actors' reservations plus room for Ray Data's own tasks
        cpus = max(os.cpu_count() or 1, int(options.num_actors * options.cpus_per_actor) + 2)
    # Ray's core notes that restarted actors need their arguments (which the run keeps): at "fatal" it keeps quiet,
    # and says once, as it starts, that the level was set; that note and the start's own are sent to its logs only
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    with _stderr_to_devnull():
        ray.init(
            address=options.address,
            num_cpus=cpus,
            include_dashboard=False,
            logging_level=logging.ERROR,
            log_to_driver=False,
        )
    return True


@contextmanager
def _stderr_to_devnull() -> Iterator[None]:
    """The process's standard error (file descriptor 2, where Ray's C++ core writes) sent to /dev/null."""
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextmanager
def quiet_ray() -> Iterator[None]:
    """Ray's own notes (token setup, execution plans, disabled progress bars) off while a run shows its bar."""
    import ray.data  # noqa: F401  # it configures its loggers on import: set their levels after that

    loggers = [logging.getLogger(name) for name in ("ray", "ray.data")]
    levels = [log.level for log in loggers]
    for log in loggers:
        log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for log, level in zip(loggers, levels):
            log.setLevel(level)


__all__ = [
    "ChunkWorker",
    "RayOptions",
    "check_actor_settings",
    "connect",
    "run_chunks_ray",
]
