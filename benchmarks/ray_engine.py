"""Rows per second of a generation job on the local engine and on the Ray engine (1 and 2 actors), on this machine.

    python benchmarks/ray_engine.py [--rows 256] [--chunk-size 32] [--output benchmarks/results/ray_engine.json]

The job: the bundled digits model (its own settings, 50 steps), r = 0.8, one hard negative per source
(`random_k:1`), the digits' train split, batches of 16. Each engine writes its own job folder from scratch; the
local engine runs once more as two processes of one thread each (`--num-shards 2`, each process loading the
model, as a launcher runs it). The Ray runs share one local cluster (4 logical CPUs, started once and timed apart), so each Ray time counts its
actors' start and model load, the scheduling and the writes; the seconds each actor spent making chunks are
measured inside it, which parts the run into work and Ray's own cost. On CPU, 1 actor reserves both cores (torch runs 2
threads in it, as the local engine does) and 2 actors one core each. The runs are checked to give the local rows
(the same seeds; images within 2/255). The machine is shared, so compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

BATCH = 16


def same_as(rows, reference) -> dict:
    """Whether `rows` are the reference rows (seeds, labels) and their largest pixel difference."""
    worst = max(
        int(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max())
        for a, b in zip(rows["image"], reference["image"])
    )
    same = rows["noise_seed"] == reference["noise_seed"] and rows["label"] == reference["label"]
    return {"same_rows_as_local": same, "max_image_diff_vs_local": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=256, help="source rows (one hard negative each)")
    parser.add_argument("--chunk-size", type=int, default=32, help="source rows per chunk")
    parser.add_argument("--output", type=Path, default=Path("benchmarks/results/ray_engine.json"))
    args = parser.parse_args()

    import ray
    from datasets import Image as ImageFeature
    from datasets import load_dataset

    from genie_transforms import GenieGenerator
    from genie_transforms.datasets import genie_map, output_features
    from genie_transforms.digits import load_digits_dataset
    from genie_transforms.jobs import merge_chunks, run_chunks
    from genie_transforms.ray import RayOptions, run_chunks_ray

    gen = GenieGenerator.from_pretrained("genie-tiny-digits", batch_size=BATCH, progress=False)
    source = load_digits_dataset("train").select(range(args.rows)).cast_column("image", ImageFeature(decode=False))
    fn = genie_map(gen, source.features["label"].names, noise_ratio=0.8, targets="random_k:1", seed=0)
    features = output_features(source.features["label"])
    config = {"command": "benchmark", **fn.config}
    scratch = Path(tempfile.mkdtemp(prefix="ray-bench-", dir="/tmp"))
    results: dict = {
        "rows": args.rows,
        "chunk_size": args.chunk_size,
        "batch_size": BATCH,
        "steps": gen.num_inference_steps,
        "noise_ratio": 0.8,
        "machine": f"{os.cpu_count()} logical CPUs, torch threads {torch.get_num_threads()}, no GPU",
        "platform": platform.platform(),
        "ray": ray.__version__,
        "runs": {},
    }
    try:
        start = time.perf_counter()
        run_chunks(source, fn, features, scratch / "local", config=config, chunk_size=args.chunk_size, progress=True)
        local_s = time.perf_counter() - start
        reference = load_dataset(str(merge_chunks(scratch / "local")), split="train")
        results["runs"]["local"] = {"seconds": local_s, "rows_per_s": args.rows / local_s}
        print(f"local engine: {args.rows} rows in {local_s:.1f} s ({args.rows / local_s:.2f} rows/s)")

        # the local engine in two processes of one thread each (`--num-shards 2`, as a launcher runs it)
        load_digits_dataset("train").select(range(args.rows)).save_to_disk(str(scratch / "source"))
        command = [
            *(sys.executable, "-m", "genie_transforms.cli", "generate", "--model", "genie-tiny-digits"),
            *"--noise-ratio 0.8 --strategy random_k:1 --seed 0".split(),
            *("--batch-size", str(BATCH), "--chunk-size", str(args.chunk_size), "--no-progress", "--num-shards", "2"),
            *("--dataset", str(scratch / "source"), "--output", str(scratch / "local-2")),
        ]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        start = time.perf_counter()
        shards = [
            subprocess.Popen([*command, "--shard-index", str(i)], env=env, stdout=subprocess.DEVNULL) for i in (0, 1)
        ]
        assert all(shard.wait() == 0 for shard in shards)
        seconds = time.perf_counter() - start
        check = same_as(load_dataset(str(scratch / "local-2" / "dataset"), split="train"), reference)
        results["runs"]["local_2_processes"] = {"seconds": seconds, "rows_per_s": args.rows / seconds, **check}
        print(
            f"local engine, 2 processes x 1 thread: {seconds:.1f} s ({args.rows / seconds:.2f} rows/s, "
            f"{local_s / seconds:.2f}x one process; same rows: {check['same_rows_as_local']})"
        )

        start = time.perf_counter()
        ray.init(
            num_cpus=4,
            _temp_dir=str(scratch / "ray"),
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
        )
        results["cluster_start_s"] = time.perf_counter() - start
        print(f"local Ray cluster started in {results['cluster_start_s']:.1f} s")
        for actors, cpus in ((1, 2.0), (2, 1.0)):
            out = scratch / f"ray-{actors}"
            start = time.perf_counter()
            stats = run_chunks_ray(
                source,
                fn,
                features,
                out,
                config=config,
                chunk_size=args.chunk_size,
                options=RayOptions(num_actors=actors, cpus_per_actor=cpus),
            )
            seconds = time.perf_counter() - start
            assert stats["errors"] == [] and stats["chunks_done"] == -(-args.rows // args.chunk_size), stats
            check = same_as(load_dataset(str(merge_chunks(out)), split="train"), reference)
            same, worst = check["same_rows_as_local"], check["max_image_diff_vs_local"]
            results["runs"][f"ray_{actors}_actors"] = {
                "seconds": seconds,
                "rows_per_s": args.rows / seconds,
                "vs_local": local_s / seconds,
                "overhead_per_row_s": (seconds - local_s) / args.rows,
                "actor_busy_s": sorted(stats["worker_seconds"].values()),
                "outside_chunks_s": seconds - max(stats["worker_seconds"].values()),
                "cpus_per_actor": cpus,
                **check,
            }
            print(
                f"Ray, {actors} actor(s) x {cpus:g} CPU: {seconds:.1f} s ({args.rows / seconds:.2f} rows/s, "
                f"{local_s / seconds:.2f}x the local engine, {1000 * (seconds - local_s) / args.rows:+.0f} ms per row; "
                f"same rows: {same}, largest pixel difference {worst}/255); the busiest actor made chunks for "
                f"{max(stats['worker_seconds'].values()):.1f} s, so {seconds - max(stats['worker_seconds'].values()):.1f} s "
                "went to starting the actors (process, imports, model load) and scheduling"
            )
        ray.shutdown()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
