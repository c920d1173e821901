"""Resumable, sharded generation jobs: verified parquet chunks, finished chunks never redone, nothing mixed.

The source rows are cut into a fixed grid of chunks (`chunk_size` rows each). Shard `i` of `n` takes the chunks
`k` with `k % n == i`, so shards of a job are the same rows whatever the number of processes, and a job resumed
with another number of shards still reuses every finished chunk.

What survives what:
- **A crash, kill -9, Ctrl-C or a full disk** leaves only whole chunks: each is written to a temporary file, flushed
  to disk and renamed, and then recorded in its sidecar `chunk-K.json` (rows, bytes, SHA-256, skipped source rows).
  A chunk counts as finished only when its sidecar exists and its file still matches it; a truncated, emptied or
  replaced chunk is named and generated again.
- **Two processes on one job folder** never do the same chunk: a process owns a chunk through an exclusive
  OS lock on `chunks/.chunk-K.lock` (which names its host and pid); another process skips it. The system
  releases the lock when its process ends, however it ends and on whichever host, so no dead owner holds a chunk.
- **Another model, source or setting** in the same folder is refused before any work: `job.json` holds every
  setting, the model's revision (Hub commit or content hash) and the source's identity (its fingerprint, revision
  and row count), and a refusal names each difference with both values.
- **Merging** hard-links (or copies) the verified chunk files into `dataset/data/`, so memory does not grow with the
  output; one process merges (`.merge.lock`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from datasets import Dataset, Features, load_dataset, load_from_disk
from tqdm.auto import tqdm

from .parquet import WrittenFile
from .storage import Folder, is_uri

logger = logging.getLogger(__name__)

JOB_FILE = "job.json"
STATUS_KEYS = ("skipped_rows",)
"""Keys of `job.json` that record what happened (written at merge), not settings: never compared on resume."""


def load_source(
    dataset: str, split: str = "train", config: str | None = None, revision: str | None = None, streaming: bool = False
) -> Any:
    """A split of a dataset given as a Hub id, a `save_to_disk` folder, or a data folder (`imagefolder`, parquet);
    an `IterableDataset` with `streaming=True` (Hub ids and data folders)."""
    path = Path(dataset).expanduser()
    if path.exists():
        if (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            loaded = load_from_disk(str(path))
            if (path / "dataset_dict.json").is_file():
                if split not in loaded:
                    raise ValueError(f"{dataset} has no split {split!r}; its splits are {list(loaded)}.")
                loaded = loaded[split]
            return loaded.to_iterable_dataset() if streaming else loaded
        return load_dataset(str(path), name=config, split=split, streaming=streaming)
    if spells_a_path(dataset):
        raise FileNotFoundError(f"No such folder: {dataset!r} ({path.absolute()} does not exist).")
    try:
        return load_dataset(dataset, name=config, split=split, revision=revision, streaming=streaming)
    except Exception as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise OSError(
            f"Could not load dataset {dataset!r} (split {split!r}): there is no folder {path.absolute()}, and as a "
            f"Hub id: {reason}"
        ) from err


def stream_identity(dataset: str, revision: str | None = None) -> str | None:
    """The identity of a source read as a stream, which has no `datasets` fingerprint: for a local folder or file,
    `files:sha256:<16 hex>` over every data file's relative path, size and modification time (what `datasets`
    fingerprints a local dataset by); for a Hub id, its resolved commit (the revision as given when the Hub cannot
    be asked)."""
    path = Path(dataset).expanduser()
    if path.exists():
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        digest = hashlib.sha256()
        for file in files:
            rel = file.relative_to(path) if file != path else Path(file.name)
            if not any(part.startswith(".") for part in rel.parts):
                st = file.stat()
                digest.update(f"{rel.as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return f"files:sha256:{digest.hexdigest()[:16]}"
    try:
        from huggingface_hub import HfApi

        return f"commit:{HfApi().dataset_info(dataset, revision=revision).sha}"
    except Exception:  # offline or unknown: the revision the user pinned is what names the data
        return None if revision is None else f"revision:{revision}"


def spells_a_path(name: str) -> bool:
    """Whether a dataset or model name is written as a local path (absolute, `./`, `../`, `~`, or deeper than a Hub
    id's `namespace/name`) rather than as a Hub id."""
    return Path(name).is_absolute() or name.startswith((".", "~")) or "\\" in name or name.count("/") > 1


def shard_chunks(
    num_rows: int, chunk_size: int, num_shards: int, shard_index: int, contiguous: bool = False
) -> list[tuple[int, int, int]]:
    """The (chunk number, start, stop) of the chunks that shard `shard_index` of `num_shards` owns: every
    `num_shards`-th chunk, or with `contiguous` (a stream, which each shard reads from its own first row) one run of
    consecutive chunks. Either way the chunks are the same grid, so a resume with any sharding reuses them."""
    if chunk_size < 1:
        raise ValueError(f"`chunk_size` must be >= 1, got {chunk_size}.")
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"`shard_index` must be in [0, num_shards), got {shard_index} of {num_shards}.")
    n_chunks = -(-num_rows // chunk_size)
    owned = (
        range(shard_index * n_chunks // num_shards, (shard_index + 1) * n_chunks // num_shards)
        if contiguous
        else range(shard_index, n_chunks, num_shards)
    )
    return [(k, k * chunk_size, min(num_rows, (k + 1) * chunk_size)) for k in owned]


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def differences(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """`setting: old -> new` for every setting that differs (nested settings by their dotted path)."""
    a, b = _flatten(previous), _flatten(current)
    return [
        f"{key}: {a.get(key)!r} in the job, {b.get(key)!r} now"
        for key in sorted(set(a) | set(b))
        if a.get(key) != b.get(key)
    ]


def identity_view(config: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a job as a resume compares them: names that spell a path are left out wherever a content
    identity stands for what they name (a source with a fingerprint, a model with a `sha256:` content hash), so the
    same data and model are the same job however their paths are spelled, and a change of content still differs."""

    def walk(value: Any) -> Any:
        if not isinstance(value, Mapping):
            return [walk(v) for v in value] if isinstance(value, list) else value
        out = {k: walk(v) for k, v in value.items() if k not in STATUS_KEYS}
        if str(out.get("model_revision") or "").startswith(("sha256:", "weights:sha256:")):
            out.pop("model_id", None)
        source = out.get("source")
        if isinstance(source, dict) and source.get("fingerprint"):
            source.pop("dataset", None)
            out.pop("dataset", None)
        return out

    return walk(json.loads(json.dumps(config, default=str)))


def check_job(out_dir: str | Path | Folder, config: Mapping[str, Any]) -> None:
    """Write the job's settings, or refuse (naming each difference and both values) to mix another job's chunks
    into an existing folder. The same data and model under another spelling of their paths are the same job
    ([`identity_view`])."""
    folder = Folder.of(out_dir)
    config = json.loads(json.dumps(config, default=str))
    if folder.is_file(JOB_FILE):
        previous = identity_view(json.loads(folder.read_text(JOB_FILE)))
        changed = differences(previous, identity_view(config))
        if changed:
            shown = "; ".join(changed[:6]) + (f"; and {len(changed) - 6} more" if len(changed) > 6 else "")
            raise ValueError(
                f"{folder} holds a job with other settings ({shown}). Resume it with the same model, source and "
                "settings, or write to a new --output folder."
            )
        return
    folder.write_text(JOB_FILE, json.dumps(config, indent=2, sort_keys=True))


def chunk_name(k: int) -> str:
    """The name of chunk `k`'s parquet file in a job folder."""
    return f"chunks/chunk-{k:06d}.parquet"


def chunk_path(out_dir: str | Path, k: int) -> Path:
    """The path of chunk `k` of a job in a local folder."""
    return Path(out_dir) / chunk_name(k)


@dataclass(frozen=True)
class ChunkRecord:
    """The sidecar of a finished chunk: what its file must be, and which source rows it skipped."""

    rows: int
    bytes: int
    sha256: str
    start: int
    stop: int
    skipped: list[int]
    job: str | None = None


def _sidecar(k: int) -> str:
    return chunk_name(k).removesuffix(".parquet") + ".json"


def read_job(out_dir: str | Path | Folder) -> dict[str, Any]:
    """The settings (`job.json`) of the job in `out_dir`."""
    return json.loads(Folder.of(out_dir).read_text(JOB_FILE))


def job_digest(job: Mapping[str, Any]) -> str:
    """A short hash of a job's settings as a resume compares them ([`identity_view`]): each chunk's record carries
    the digest of the job that wrote it, so a chunk of another job (after `job.json` was reset) is never merged."""
    text = json.dumps(identity_view(job), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def chunk_rows(job: Mapping[str, Any], k: int) -> tuple[int, int]:
    """The source rows [start, stop) that chunk `k` of a job holds."""
    size = job["chunk_size"]
    return k * size, min(job["num_rows"], (k + 1) * size)


def chunk_problem(out_dir: str | Path | Folder, k: int, deep: bool = True) -> str | None:
    """Why chunk `k` is not finished (None when it is): missing, no record, or its file changed since written (its
    size; with `deep`, also its SHA-256, which reads the whole file)."""
    folder = Folder.of(out_dir)
    size = folder.size(chunk_name(k))
    if size is None:
        return "missing"
    if not folder.is_file(_sidecar(k)):
        return "not recorded as finished"
    record = ChunkRecord(**json.loads(folder.read_text(_sidecar(k))))
    job = read_job(folder)
    if record.job != job_digest(job):
        return "written by another job (its settings differ from job.json's)"
    if (record.start, record.stop) != chunk_rows(job, k):
        return f"holds rows {record.start}-{record.stop}, job.json describes {chunk_rows(job, k)}"
    if size != record.bytes:
        return f"{size} bytes on disk, {record.bytes} written"
    if deep and folder.digest(chunk_name(k)) != record.sha256:
        return "its content changed since it was written"
    return None


def write_chunk(
    out_dir: str | Path | Folder, k: int, ds: Dataset, start: int, stop: int, skipped: list[int]
) -> WrittenFile:
    """Write chunk `k` (source rows [start, stop)) and then its record, each whole or not at all."""
    folder = Folder.of(out_dir)
    folder.delete(_sidecar(k))  # the old record (if any) no longer describes the file
    written = folder.write_parquet(ds, chunk_name(k))
    record = ChunkRecord(
        written.rows, written.bytes, written.sha256, start, stop, skipped, job_digest(read_job(folder))
    )
    folder.write_text(_sidecar(k), json.dumps(asdict(record)))
    return written


class ChunkLock:
    """Exclusive ownership of one chunk (or the merge) by one process: an OS lock (`flock`) on a lock file, held
    while the process lives and released by the system however it ends (kill -9, a lost node, a restarted container
    whose new process has the old pid), on any host that shares the folder (NFS locks across hosts). The file also
    names its owner (host and pid) for messages; it is never deleted, so two processes always lock the same file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def of(cls, folder: Folder, k: int | None) -> ChunkLock:
        """The lock of chunk `k` (the merge's with None) of a job folder. Object storage has no locks: there the
        lock is always granted, and one process (or one Ray driver) must own each chunk."""
        if folder.local is None:
            return cls(None)
        return cls(chunk_lock_path(folder.local, k) if k is not None else folder.local / ".merge.lock")

    @property
    def held(self) -> bool:
        return self._fd is not None

    def owner(self) -> str | None:
        try:
            return self.path.read_text().strip() or "?" if self.path is not None else None
        except FileNotFoundError:
            return None

    def acquire(self) -> bool:
        import fcntl

        if self.path is None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as err:  # a file system without locks: no exclusion, but chunks are still written whole
            logger.warning(
                "%s cannot be locked (%s): run one process per job folder on this file system.", self.path, err
            )
        os.ftruncate(fd, 0)
        os.write(fd, f"{socket.gethostname()}:{os.getpid()}".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the lock
            self._fd = None


def start_job(folder: Folder, config: Mapping[str, Any], features: Features, num_rows: int, chunk_size: int) -> None:
    """Write the job's settings (with its row count, chunk size and features) or refuse another job's."""
    check_job(folder, {**config, "num_rows": num_rows, "chunk_size": chunk_size, "features": features.to_dict()})
    if folder.local is not None:
        (folder.local / "chunks").mkdir(parents=True, exist_ok=True)


def unfinished(folder: Folder, chunks: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    """The chunks (number, start, stop) among `chunks` that are not finished; a broken one is named."""
    todo = []
    for k, start, stop in chunks:
        problem = chunk_problem(folder, k)
        if problem not in (None, "missing"):
            logger.warning("Chunk %d (%s) is broken: %s; it is generated again.", k, chunk_name(k), problem)
        if problem is not None:
            todo.append((k, start, stop))
    return todo


def new_stats(chunks: list[tuple[int, int, int]], todo: list[tuple[int, int, int]]) -> dict[str, Any]:
    """The counts a run reports, before it starts: chunks done now, skipped (finished before, or another process's),
    busy (held by another process), source rows in, rows out, and the source rows skipped."""
    return {
        "chunks_done": 0,
        "chunks_skipped": len(chunks) - len(todo),
        "chunks_busy": [],
        "rows_in": 0,
        "rows_out": 0,
        "skipped_rows": [],
    }


def make_chunk(
    folder: Folder,
    k: int,
    batches: Iterable[tuple[dict[str, list], int, int]],
    fn: Callable[[dict[str, list], list[int]], dict[str, list]],
    features: Features,
    rows: tuple[int, int],
    advance: Callable[[int], Any] = lambda n: None,
) -> tuple[int, list[int]]:
    """Generate chunk `k` (source rows `rows`) from its source `batches` (batch, start, stop) and write it with
    its record; `advance(n)` after each batch. Returns the rows written and the source rows skipped."""
    out: dict[str, list] = {}
    for batch, a, b in batches:
        for name, values in fn(batch, list(range(a, b))).items():
            out.setdefault(name, []).extend(values)
        advance(b - a)
    emitted = set(out.get("source_index", []))
    skipped = [i for i in range(*rows) if i not in emitted]
    write_chunk(folder, k, Dataset.from_dict(out, features=features), rows[0], rows[1], skipped)
    return len(out.get("label", [])), skipped


def run_chunks(
    ds: Any,
    fn: Callable[[dict[str, list], list[int]], dict[str, list]],
    features: Features,
    out_dir: str | Path | Folder,
    *,
    config: Mapping[str, Any],
    chunk_size: int = 64,
    num_shards: int = 1,
    shard_index: int = 0,
    rows_per_call: int | None = None,
    num_rows: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run `fn` (a `genie_map`-style batch function) over this shard's chunks, skipping finished ones.

    `ds` is a `Dataset`, or an `IterableDataset` (streaming) with `num_rows` given; a stream is read once, in order.
    Each chunk is generated `rows_per_call` source rows at a time (the whole chunk by default), so that the
    progress bar moves with every call; `fn` gives the same rows for any split. Returns counts: chunks done now,
    chunks skipped (finished before, or being done by another process), source rows processed, rows written, and
    the source rows skipped (images that could not be decoded).
    """
    folder = Folder.of(out_dir)
    if num_rows is None:
        num_rows = len(ds)
    start_job(folder, config, features, num_rows, chunk_size)
    step = rows_per_call or chunk_size
    stream = not isinstance(ds, Dataset)
    chunks = shard_chunks(num_rows, chunk_size, num_shards, shard_index, contiguous=stream)
    todo = unfinished(folder, chunks)
    stats = new_stats(chunks, todo)
    total = sum(stop - start for _, start, stop in chunks)
    done = total - sum(stop - start for _, start, stop in todo)
    reader = StreamReader(ds, todo[0][1] if todo else 0) if stream else None
    with tqdm(
        total=total, initial=done, desc=f"shard {shard_index}/{num_shards}", unit="src", disable=not progress
    ) as bar:
        for k, start, stop in todo:
            lock = ChunkLock.of(folder, k)
            if not lock.acquire():
                logger.warning(
                    "Chunk %d is being generated by another process (%s, holding %s; the lock ends with that "
                    "process); skipping it.",
                    k,
                    lock.owner(),
                    lock.path,
                )
                stats["chunks_busy"].append(k)
                continue
            if chunk_problem(folder, k) is None:  # another process finished it meanwhile
                lock.release()
                stats["chunks_skipped"] += 1
                bar.update(stop - start)
                continue
            try:
                batches = ((a, min(stop, a + step)) for a in range(start, stop, step))
                rows_out, skipped = make_chunk(
                    folder,
                    k,
                    ((ds[a:b] if reader is None else reader.rows(a, b), a, b) for a, b in batches),
                    fn,
                    features,
                    (start, stop),
                    bar.update,
                )
            finally:
                lock.release()
            stats["chunks_done"] += 1
            stats["rows_in"] += stop - start
            stats["rows_out"] += rows_out
            stats["skipped_rows"] += skipped
            bar.set_postfix(generated=stats["rows_out"])
    if reader is not None:
        stats["stream_rows_read"] = reader.read
    return stats


class StreamReader:
    """Rows `[a, b)` of an `IterableDataset`, asked for in increasing order, read once. A stream of parquet files
    is opened at the file that holds row `first` (the files' row counts are in their metadata), so a shard reads
    its own rows and at most the start of one file before them; any other stream is read from its first row, and
    rows before `first` are passed over. `read` counts the rows taken from the stream."""

    def __init__(self, ds: Any, first: int = 0) -> None:
        skipped = 0
        counts = parquet_row_counts(ds)
        if counts is not None and first > 0:
            while counts and skipped + counts[0] <= first:
                skipped += counts.pop(0)
            files = len(counts)
            ds = concatenate_streams(
                [ds.shard(ds.n_shards, j, contiguous=True) for j in range(ds.n_shards - files, ds.n_shards)]
            )
        self.iterator = iter(ds)
        self.position = skipped
        self.read = 0

    def _next(self) -> dict[str, Any]:
        row = next(self.iterator)
        self.position += 1
        self.read += 1
        return row

    def rows(self, a: int, b: int) -> dict[str, list]:
        if a < self.position:
            raise ValueError(f"Rows {a}-{b} were asked for after row {self.position}: a stream is read forward only.")
        while self.position < a:
            self._next()
        out: dict[str, list] = {}
        for _ in range(a, b):
            for name, value in self._next().items():
                out.setdefault(name, []).append(value)
        return out


def parquet_row_counts(ds: Any) -> list[int] | None:
    """The row count of each data file of a stream read from parquet files, one file per shard of the stream, from
    the files' metadata (nothing else is read); None for any other stream."""
    import fsspec
    import pyarrow.parquet as pq

    kwargs = getattr(getattr(ds, "_ex_iterable", None), "kwargs", None) or {}
    files = [_single_path(f) for f in kwargs.get("files") or []]
    if not files or getattr(ds, "n_shards", None) != len(files):
        return None
    if not all(f is not None and f.endswith(".parquet") and "::" not in f for f in files):
        return None
    counts = []
    for file in files:
        with fsspec.open(file, "rb") as f:
            counts.append(pq.ParquetFile(f).metadata.num_rows)
    return counts


def _single_path(entry: Any) -> str | None:
    """The one file a stream's shard reads: a path (datasets 5), or a `FilesIterable` of one path (datasets 4)."""
    if isinstance(entry, str):
        return entry
    try:
        paths = list(entry)
    except TypeError:
        return None
    return paths[0] if len(paths) == 1 and isinstance(paths[0], str) else None


def concatenate_streams(parts: list[Any]) -> Any:
    from datasets import concatenate_datasets

    return parts[0] if len(parts) == 1 else concatenate_datasets(parts)


def missing_chunks(out_dir: str | Path | Folder, deep: bool = False) -> list[int]:
    """Chunk numbers of the job in `out_dir` that are not finished yet (missing or broken; checksums too with
    `deep`, which reads every chunk: a resume checks its own chunks so, and the merge checks them all)."""
    folder = Folder.of(out_dir)
    return [k for k in range(_num_chunks(read_job(folder))) if chunk_problem(folder, k, deep) is not None]


def _num_chunks(job: Mapping[str, Any]) -> int:
    return -(-job["num_rows"] // job["chunk_size"])


def chunk_lock_path(out_dir: str | Path, k: int) -> Path:
    """The lock file of chunk `k` of a local job folder (hidden: never a stray file, never merged)."""
    path = chunk_path(Path(out_dir), k)
    return path.with_name(f".{path.stem}.lock")


def stray_files(out_dir: str | Path | Folder) -> list[str]:
    """Names of the files in the job's `chunks/` folder that its `job.json` does not describe (a sync-conflict
    copy, a chunk of a longer job, a stray file): never merged."""
    folder = Folder.of(out_dir)
    n = _num_chunks(read_job(folder))
    described = {Path(name).name for k in range(n) for name in (chunk_name(k), _sidecar(k))}
    return [name for name in folder.files("chunks") if name not in described and not name.startswith(".")]


def skipped_rows(out_dir: str | Path | Folder) -> list[int]:
    """The source rows every finished chunk of the job skipped (images that could not be decoded)."""
    folder = Folder.of(out_dir)
    rows: list[int] = []
    for k in range(_num_chunks(read_job(folder))):
        rows += json.loads(folder.read_text(_sidecar(k)))["skipped"]
    return rows


def merge_chunks(out_dir: str | Path | Folder, split: str = "train") -> Path | str | None:
    """Merge a finished job's chunks into `out_dir/dataset/`, which `datasets.load_dataset(<that dir>)` reads;
    returns that folder (a path, or a URI in object storage).

    The verified chunk files become the dataset's files (hard links, or copies across file systems or in object
    storage), so memory does not grow with the output. Returns None when another process is merging already."""
    folder = Folder.of(out_dir)
    missing = missing_chunks(folder, deep=True)
    if missing:
        raise ValueError(
            f"{folder} is not finished: chunks {missing[:10]}{' ...' if len(missing) > 10 else ''} are missing or "
            "broken. Run the remaining shards (the same command resumes and regenerates them) before merging."
        )
    lock = ChunkLock.of(folder, None)
    if not lock.acquire():
        return None
    try:
        stray = stray_files(folder)
        if stray:
            logger.warning("Left out of the merge (job.json does not describe them): %s", ", ".join(stray))
        n = _num_chunks(read_job(folder))
        folder.replace_folder("dataset", {f"data/{split}-{k:05d}-of-{n:05d}.parquet": chunk_name(k) for k in range(n)})
        job = read_job(folder)
        job["skipped_rows"] = skipped_rows(folder)
        folder.write_text(JOB_FILE, json.dumps(job, indent=2, sort_keys=True))
        return folder.uri("dataset") if is_uri(folder.where) else Path(folder.root) / "dataset"
    finally:
        lock.release()


__all__ = [
    "JOB_FILE",
    "STATUS_KEYS",
    "ChunkLock",
    "ChunkRecord",
    "StreamReader",
    "check_job",
    "chunk_lock_path",
    "chunk_name",
    "chunk_path",
    "chunk_problem",
    "chunk_rows",
    "differences",
    "identity_view",
    "job_digest",
    "load_source",
    "make_chunk",
    "merge_chunks",
    "missing_chunks",
    "new_stats",
    "parquet_row_counts",
    "read_job",
    "run_chunks",
    "shard_chunks",
    "skipped_rows",
    "spells_a_path",
    "start_job",
    "stray_files",
    "stream_identity",
    "unfinished",
    "write_chunk",
]
