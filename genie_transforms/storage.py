"""Job folders on a local disk or in object storage: a path, or any pyarrow filesystem URI (`s3://`, `gs://`,
`hdfs://`, `file://`), with the few operations a job needs.

Local folders keep every guarantee of the local job path: files are written to a temporary name, flushed to disk
(fsync) and renamed, so a file is absent or whole. In object storage an object appears whole when its upload ends
(S3 and GCS put semantics), so files are written in one upload. Credentials and endpoints come from the URI's
query (`s3://bucket/path?region=eu-west-1&endpoint_override=...`) or the usual environment variables
(`AWS_ACCESS_KEY_ID`, `GOOGLE_APPLICATION_CREDENTIALS`, ...), as pyarrow reads them.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path
from typing import Any

from datasets import Dataset

from .parquet import WrittenFile, embed_images, write_parquet


def is_uri(where: str | os.PathLike) -> bool:
    """Whether a job location is written as a filesystem URI (`scheme://...`) rather than a path."""
    return "://" in str(where)


def redact(where: str | os.PathLike) -> str:
    """A job location as it may be printed: a URI without the credentials written into it (`user:secret@`)."""
    text = str(where)
    scheme, sep, rest = text.partition("://")
    return f"{scheme}{sep}***@{rest.split('@', 1)[1]}" if sep and "@" in rest.split("/", 1)[0] else text


class Folder:
    """A folder on any pyarrow filesystem; names below it are relative, with `/` separators."""

    def __init__(self, where: str | os.PathLike) -> None:
        from pyarrow import fs as pafs

        self.where = str(where)
        if is_uri(where):
            try:
                self.fs, root = pafs.FileSystem.from_uri(self.where)
            except (ValueError, OSError) as err:
                raise ValueError(
                    f"{self.where!r} is not a filesystem URI pyarrow can open ({err}). Use a local path or a URI such "
                    "as s3://bucket/folder, gs://bucket/folder or file:///abs/folder."
                ) from err
            self.local: Path | None = Path(root) if isinstance(self.fs, pafs.LocalFileSystem) else None
            self.root = root.rstrip("/")
        else:
            self.local = Path(where).expanduser().absolute()
            self.fs, self.root = pafs.LocalFileSystem(), str(self.local)

    @classmethod
    def of(cls, where: str | os.PathLike | Folder) -> Folder:
        return where if isinstance(where, Folder) else cls(where)

    def __repr__(self) -> str:
        return f"Folder({self.where!r})"

    def __str__(self) -> str:
        return redact(self.where)

    def __reduce__(self) -> tuple[Any, ...]:  # travels to other processes as its location
        return (Folder, (self.where,))

    def uri(self, name: str) -> str:
        """How `name` (relative to this folder) is written: a path, or a URI with this folder's query."""
        if self.local is not None and not is_uri(self.where):
            return str(self.local / name)
        base, sep, query = self.where.partition("?")
        return f"{base.rstrip('/')}/{name}{sep}{query}"

    def path(self, name: str = "") -> str:
        """The filesystem path of `name` (relative to this folder)."""
        return f"{self.root}/{name}" if name else self.root

    def size(self, name: str) -> int | None:
        """The size in bytes of file `name`, or None when there is no such file."""
        from pyarrow import fs as pafs

        info = self.fs.get_file_info(self.path(name))
        return info.size if info.type == pafs.FileType.File else None

    def is_file(self, name: str) -> bool:
        return self.size(name) is not None

    def read_bytes(self, name: str) -> bytes:
        with self.fs.open_input_stream(self.path(name)) as f:
            return f.read()

    def read_text(self, name: str) -> str:
        return self.read_bytes(name).decode()

    def write_bytes(self, name: str, data: bytes) -> None:
        """Write file `name` whole: locally to a temporary name, flushed and renamed; in object storage in one
        upload."""
        if self.local is not None:
            target = self.local / name
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp{os.getpid()}")
            try:
                with open(tmp, "wb") as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
            return
        with self.fs.open_output_stream(self.path(name)) as f:
            f.write(data)

    def write_text(self, name: str, text: str) -> None:
        self.write_bytes(name, text.encode())

    def delete(self, name: str) -> None:
        """Delete file `name` if it exists."""
        if self.is_file(name):
            self.fs.delete_file(self.path(name))

    def digest(self, name: str) -> str:
        """The SHA-256 hex digest of file `name`, read in 1 MiB blocks."""
        digest = hashlib.sha256()
        with self.fs.open_input_stream(self.path(name)) as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def files(self, name: str) -> list[str]:
        """The names of the files directly in sub-folder `name` (empty when it does not exist)."""
        from pyarrow import fs as pafs

        infos = self.fs.get_file_info(pafs.FileSelector(self.path(name), allow_not_found=True))
        return sorted(Path(i.path).name for i in infos if i.type == pafs.FileType.File)

    def write_parquet(self, ds: Dataset, name: str) -> WrittenFile:
        """Write `ds` (images embedded) as parquet file `name`, whole or not at all."""
        if self.local is not None:
            return write_parquet(ds, self.local / name)
        buffer = io.BytesIO()
        embed_images(ds).to_parquet(buffer)
        data = buffer.getvalue()
        self.write_bytes(name, data)
        return WrittenFile(rows=len(ds), bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

    def read_dataset(self, name: str, exclude: tuple[str, ...] = ()) -> Dataset:
        """The parquet files directly in sub-folder `name` as one `Dataset`, held in memory: read it without its
        heavy columns (`exclude`)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        tables = []
        for file in self.files(name):
            if file.endswith(".parquet"):
                with self.fs.open_input_file(self.path(f"{name}/{file}")) as f:
                    columns = [c for c in pq.read_schema(f).names if c not in exclude]
                    tables.append(pq.read_table(f, columns=columns))
        if not tables:
            raise FileNotFoundError(f"{self.path(name)} holds no parquet files.")
        return Dataset(pa.concat_tables(tables))

    def replace_folder(self, name: str, files: dict[str, str]) -> None:
        """Make sub-folder `name` hold exactly `files` ({new name: existing file name}). Locally the new folder is
        built beside the old one (hard links, or copies across file systems) and swapped in, so readers see the old
        folder or the new one; in object storage the objects are copied and the old ones not among them deleted."""
        if self.local is not None:
            final = self.local / name
            for stale in [*self.local.glob(f".{name}.tmp*"), *self.local.glob(f".{name}.old*")]:  # a killed swap
                shutil.rmtree(stale, ignore_errors=True)
            staging = self.local / f".{name}.tmp{os.getpid()}"
            for new, existing in files.items():
                target = staging / new
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(self.local / existing, target)
                except OSError:
                    shutil.copyfile(self.local / existing, target)
            staging.mkdir(parents=True, exist_ok=True)
            old = self.local / f".{name}.old{os.getpid()}"
            if final.exists():
                os.replace(final, old)
            os.replace(staging, final)
            shutil.rmtree(old, ignore_errors=True)
            return
        from pyarrow import fs as pafs

        for new, existing in files.items():
            self.fs.copy_file(self.path(existing), self.path(f"{name}/{new}"))
        kept = {self.path(f"{name}/{new}") for new in files}
        infos = self.fs.get_file_info(pafs.FileSelector(self.path(name), recursive=True, allow_not_found=True))
        for info in infos:
            if info.type == pafs.FileType.File and info.path not in kept:
                self.fs.delete_file(info.path)


__all__ = [
    "Folder",
    "is_uri",
    "redact",
]
