"""Peak memory of merging a finished `genie generate` job, as the job grows: it stays flat, because the verified
chunk files become the dataset's files (hard links) instead of being loaded and written again.

For each size, a synthetic finished job (rows of the real schema, small PNG images, chunks of `--chunk-size` rows
with their sidecars) is built, then merged in a fresh process that reports its peak resident memory before and
after `merge_chunks`.

    python benchmarks/merge_memory.py [--rows 10000 50000 100000] [--chunk-size 1000]
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MEASURE = """
import json, resource, sys, time
from genie_transforms.jobs import merge_chunks
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
merge_chunks(sys.argv[1])
seconds = time.perf_counter() - start
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_mib": before / 1024, "after_mib": after / 1024, "seconds": seconds}))
"""


def synthetic_job(folder: Path, rows: int, chunk_size: int) -> int:
    """A finished job of `rows` generated rows; returns the bytes of its chunk files."""
    from datasets import ClassLabel, Dataset
    from PIL import Image

    from genie_transforms.datasets import output_features
    from genie_transforms.jobs import check_job, write_chunk

    features = output_features(ClassLabel(names=[str(i) for i in range(10)]))
    png = io.BytesIO()
    Image.new("RGB", (32, 32), (120, 30, 200)).save(png, format="PNG")
    check_job(
        folder, {"command": "generate", "num_rows": rows, "chunk_size": chunk_size, "features": features.to_dict()}
    )
    (folder / "chunks").mkdir(parents=True, exist_ok=True)
    total = 0
    for k, start in enumerate(range(0, rows, chunk_size)):
        n = min(chunk_size, rows - start)
        columns = {name: [None] * n for name in features}
        columns.update(
            image=[{"bytes": png.getvalue(), "path": None}] * n,
            label=[1] * n,
            source_label=[0] * n,
            source_index=list(range(start, start + n)),
            noise_ratio=[0.8] * n,
            prompt=["a photo of a 1."] * n,
            seed=[0] * n,
            noise_seed=list(range(start, start + n)),
            noise_scheme=["pcg64-v1"] * n,
            model_id=["synthetic"] * n,
            adapters=["[]"] * n,
        )
        total += write_chunk(folder, k, Dataset.from_dict(columns, features=features), start, start + n, []).bytes
    return total


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 50_000, 100_000], help="job sizes to merge")
    parser.add_argument("--chunk-size", type=int, default=1000, help="rows per chunk")
    args = parser.parse_args(argv)
    results = []
    print("| rows | chunk files (MiB) | peak memory before merge (MiB) | after merge (MiB) | merge growth (MiB) | s |")
    print("| --- | --- | --- | --- | --- | --- |")
    for rows in args.rows:
        with tempfile.TemporaryDirectory() as tmp:
            job = Path(tmp) / "job"
            size = synthetic_job(job, rows, args.chunk_size)
            started = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", MEASURE, str(job)], capture_output=True, text=True, check=True)
            figures = json.loads(out.stdout.strip().splitlines()[-1])
            assert (job / "dataset" / "data").is_dir(), "merge did not write the dataset"
        row = {"rows": rows, "chunk_mib": size / 2**20, **figures, "wall_s": time.perf_counter() - started}
        results.append(row)
        print(
            f"| {rows:,} | {row['chunk_mib']:.1f} | {row['before_mib']:.0f} | {row['after_mib']:.0f} | "
            f"{row['after_mib'] - row['before_mib']:.0f} | {row['seconds']:.2f} |"
        )
    return results


if __name__ == "__main__":
    main()
