"""The Ray Data engine, on a local Ray cluster started by the tests: the same rows as the local path, whatever the
number of actors; faults (an error inside a chunk, a dying actor, a run stopped part way) cost only the unfinished
chunks; object storage through a local S3 server (moto)."""

import json
import logging
import os
import shutil
import tempfile

import numpy as np
import pytest
from datasets import Image as ImageFeature
from datasets import load_dataset

pytest.importorskip("ray.data")

from genie_transforms.cli import main
from genie_transforms.datasets import genie_map, output_features
from genie_transforms.jobs import chunk_path, merge_chunks, missing_chunks, run_chunks
from genie_transforms.ray import RayOptions, run_chunks_ray

from .helpers import build_dataset, generate_args

pytestmark = pytest.mark.slow

S3_ENV = {"AWS_ACCESS_KEY_ID": "genie-test", "AWS_SECRET_ACCESS_KEY": "genie-test", "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture(scope="module")
def ray_cluster():
    """A local Ray cluster for this module: 4 logical CPUs (with 2, an actor pool leaves Ray Data no room to run),
    its session files and token in a temporary folder, dummy S3 credentials in the workers' environment."""
    import ray

    scratch = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths have a length limit
    saved = {key: os.environ.get(key) for key in ("HOME", *S3_ENV)}
    os.environ.update(HOME=scratch, **S3_ENV)
    ray.init(
        num_cpus=4,
        _temp_dir=f"{scratch}/ray",
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    yield
    ray.shutdown()
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    shutil.rmtree(scratch, ignore_errors=True)


@pytest.fixture(scope="module")
def job(tiny_generator):
    """A small job: 8 sources in chunks of 3, two targets per source at two noise ratios."""
    source = build_dataset(8).cast_column("image", ImageFeature(decode=False))
    fn = genie_map(tiny_generator, ["cat", "dog", "car", "boat"], noise_ratio=[0.5, 1.0], targets="random_k:2", seed=3)
    features = output_features(source.features["label"])
    return source, fn, features, {"command": "test", **fn.config}


@pytest.fixture(scope="module")
def local_rows(job, tmp_path_factory):
    source, fn, features, config = job
    out = tmp_path_factory.mktemp("local") / "job"
    run_chunks(source, fn, features, out, config=config, chunk_size=3, progress=False)
    return load_dataset(str(merge_chunks(out)), split="train")


def same_rows(a, b):
    """The same rows (identity, seeds, provenance) and images within the engine's 2/255 batch tolerance."""
    assert len(a) == len(b) > 0
    key = lambda row: (row["source_index"], row["label"], row["noise_ratio"])  # noqa: E731
    rows_a, rows_b = sorted(a, key=key), sorted(b, key=key)
    for x, y in zip(rows_a, rows_b):
        image_x, image_y = x.pop("image"), y.pop("image")
        assert x == y
        assert np.abs(np.asarray(image_x, np.int16) - np.asarray(image_y, np.int16)).max() <= 2


class FailOn:
    """A map function that fails on one source row (`mode="raise"`), or kills its process the first time it meets
    that row (`mode="exit"`, once per `marker` file); otherwise the wrapped function."""

    def __init__(self, fn, row, mode, marker=None):
        self.fn, self.row, self.mode, self.marker = fn, row, mode, marker
        self.config, self.generator = fn.config, fn.generator

    def __call__(self, batch, indices, rank=None):
        if self.row in indices:
            if self.mode == "raise":
                raise ValueError(f"cannot read source row {self.row}")
            if not os.path.exists(self.marker):
                open(self.marker, "w").close()
                os._exit(1)
        return self.fn(batch, indices)


@pytest.mark.parametrize("actors", [1, 2])
def test_ray_gives_the_local_rows_with_any_number_of_actors(ray_cluster, job, local_rows, tmp_path, actors):
    source, fn, features, config = job
    out = tmp_path / "job"
    stats = run_chunks_ray(
        source, fn, features, out, config=config, chunk_size=3, options=RayOptions(num_actors=actors), progress=False
    )
    assert (stats["chunks_done"], stats["rows_in"], stats["rows_out"], stats["errors"]) == (3, 8, 32, [])
    merged = merge_chunks(out)
    same_rows(load_dataset(str(merged), split="train"), local_rows)
    local_job = json.loads((chunk_path(out, 0).parent.parent / "job.json").read_text())
    assert local_job["seed"] == 3 and local_job["num_rows"] == 8 and local_job["chunk_size"] == 3


def test_an_error_in_one_chunk_is_reported_and_a_rerun_makes_only_that_chunk(ray_cluster, job, local_rows, tmp_path):
    source, fn, features, config = job
    out = tmp_path / "job"
    run = lambda f: run_chunks_ray(source, f, features, out, config=config, chunk_size=3, progress=False)  # noqa: E731
    stats = run(FailOn(fn, 4, "raise"))
    assert [(k, a, b) for k, a, b, _ in stats["errors"]] == [(1, 3, 6)]
    assert "ValueError: cannot read source row 4" in stats["errors"][0][3]
    assert stats["chunks_done"] == 2 and missing_chunks(out) == [1] and not (out / "dataset").exists()
    kept = {k: chunk_path(out, k).stat().st_mtime_ns for k in (0, 2)}

    again = run(fn)
    assert (again["chunks_done"], again["chunks_skipped"], again["errors"]) == (1, 2, [])
    assert {k: chunk_path(out, k).stat().st_mtime_ns for k in (0, 2)} == kept  # finished chunks untouched
    same_rows(load_dataset(str(merge_chunks(out)), split="train"), local_rows)  # none lost, none twice


def test_an_actor_that_dies_is_restarted_and_its_chunk_done_again(ray_cluster, job, local_rows, tmp_path):
    source, fn, features, config = job
    marker = tmp_path / "died-once"
    stats = run_chunks_ray(
        source,
        FailOn(fn, 7, "exit", str(marker)),
        features,
        tmp_path / "job",
        config=config,
        chunk_size=3,
        options=RayOptions(num_actors=2),
        progress=False,
    )
    assert marker.exists()  # an actor did die on chunk 2
    assert (stats["chunks_done"], stats["errors"]) == (3, [])
    same_rows(load_dataset(str(merge_chunks(tmp_path / "job")), split="train"), local_rows)


def test_ray_refuses_another_job_in_the_folder_before_any_work(tiny_generator, job, tmp_path):
    source, fn, features, config = job
    out = tmp_path / "job"
    other = genie_map(tiny_generator, ["cat", "dog", "car", "boat"], noise_ratio=[0.5, 1.0], targets="random_k:2")
    run_chunks(source.select(range(3)), other, features, out, config={"command": "test", **other.config}, chunk_size=3)
    with pytest.raises(ValueError, match=r"other settings \(.*seed: 0 in the job, 3 now"):
        run_chunks_ray(source.select(range(3)), fn, features, out, config=config, chunk_size=3, progress=False)


def test_ray_refuses_what_its_actors_cannot_rebuild(tiny_model_path, job, tmp_path):
    from diffusers import StableDiffusionPipeline

    from genie_transforms import GenieGenerator

    source, _, features, _ = job
    in_memory = GenieGenerator(StableDiffusionPipeline.from_pretrained(tiny_model_path), num_inference_steps=2)
    fn = genie_map(in_memory, ["cat", "dog", "car", "boat"], targets="random_k:1")
    with pytest.raises(ValueError, match="from_pretrained"):
        run_chunks_ray(source, fn, features, tmp_path / "a", config=fn.config)
    with pytest.raises(TypeError, match="--engine local"):
        run_chunks_ray(source.to_iterable_dataset(), fn, features, tmp_path / "b", config=fn.config)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


@pytest.fixture
def s3(ray_cluster):
    """A local S3 server (moto): the URI prefix of a fresh bucket, and its pyarrow filesystem for reading back."""
    pytest.importorskip("moto.server")
    from moto.server import ThreadedMotoServer
    from pyarrow import fs as pafs

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    query = f"endpoint_override={host}:{port}&scheme=http&region=us-east-1&allow_bucket_creation=true"
    filesystem, _ = pafs.FileSystem.from_uri(f"s3://genie?{query}")
    filesystem.create_dir("genie")
    yield (lambda path: f"s3://genie/{path}?{query}"), filesystem
    server.stop()


def test_jobs_write_to_object_storage_and_read_back_the_same(ray_cluster, s3, job, local_rows, tmp_path):
    import pyarrow.parquet as pq
    from datasets import Dataset

    source, fn, features, config = job
    uri, filesystem = s3
    stats = run_chunks_ray(
        source, fn, features, uri("runs/ray"), config=config, chunk_size=3, options=RayOptions(2), progress=False
    )
    assert stats["chunks_done"] == 3 and missing_chunks(uri("runs/ray")) == []
    assert merge_chunks(uri("runs/ray")) == uri("runs/ray/dataset")
    names = sorted(i.path for i in filesystem.get_file_info(pyarrow_selector("genie/runs/ray/dataset/data")))
    assert [n.rsplit("/", 1)[1] for n in names] == [f"train-0000{k}-of-00003.parquet" for k in range(3)]
    read_back = Dataset(pq.read_table(names[0], filesystem=filesystem))  # one file, back from the bucket
    for name in names[1:]:
        read_back = concatenate(read_back, Dataset(pq.read_table(name, filesystem=filesystem)))
    same_rows(read_back.cast(local_rows.features), local_rows)
    job_json = json.loads(filesystem.open_input_stream("genie/runs/ray/job.json").read())
    assert job_json["num_rows"] == 8 and "skipped_rows" in job_json

    # the local engine writes there too, and refuses another job in the same bucket folder before any work
    other = genie_map(fn.generator, ["cat", "dog", "car", "boat"], noise_ratio=[0.5, 1.0], targets="random_k:2")
    with pytest.raises(ValueError, match="other settings"):
        run_chunks(source, other, features, uri("runs/ray"), config={"command": "test", **other.config}, chunk_size=3)


def pyarrow_selector(path):
    from pyarrow import fs as pafs

    return pafs.FileSelector(path)


def concatenate(a, b):
    from datasets import concatenate_datasets

    return concatenate_datasets([a, b])


def test_generate_and_ada_commands_on_the_ray_engine(ray_cluster, saved_source, tiny_model_path, tmp_path, ada_args):
    """`--engine ray` runs the commands end to end; their folders read as a local job's (load_dataset, a bank for
    GenieTransform, publish), and a local run of the same command finds nothing left to do."""
    pytest.importorskip("torchvision")
    from genie_transforms.torchvision import GenieTransform

    source_dir = saved_source(6)
    out = tmp_path / "genie"
    assert main(generate_args(source_dir, tiny_model_path, out, "--engine", "ray", "--ray-actors", "2")) == 0
    ds = load_dataset(str(out / "dataset"), split="train")
    assert sorted(ds["source_index"]) == list(range(6))
    transform = GenieTransform(bank=out, p=1.0)
    _, label = transform(ds[0]["image"], 0)
    row = ds[transform.last_draw["bank_index"]]
    assert row["source_label"] == 0 and label == row["label"] != 0
    ada = tmp_path / "ada"
    assert main(ada_args(source_dir, tiny_model_path, ada, "--grid", "0.5", "0.9", "--engine", "ray")) == 0
    assert len(load_dataset(str(ada / "noise_table"), split="train")) == 12
    assert main(["publish", "--genie", str(out), "--ada", str(ada), "--output", str(tmp_path / "repo")]) == 0
    assert main(generate_args(source_dir, tiny_model_path, out)) == 0  # the local engine: every chunk is done


def test_ray_options_are_checked(tmp_path, saved_source, tiny_model_path, capsys):
    with pytest.raises(ValueError, match="num_actors"):
        RayOptions(num_actors=0)
    source_dir = saved_source(2)
    assert main(generate_args(source_dir, tiny_model_path, tmp_path / "o", "--ray-actors", "2")) == 2
    assert "apply to --engine ray" in capsys.readouterr().err
    assert main(generate_args(source_dir, tiny_model_path, tmp_path / "o", "--engine", "ray", "--streaming")) == 2


def test_the_command_starts_its_own_local_cluster_and_keeps_the_console_quiet(saved_source, tiny_model_path, tmp_path):
    """Without --ray-address the command starts a local cluster for the run (and stops it); what it prints is its
    own summary and bar, not Ray's notes."""
    import subprocess
    import sys

    scratch = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    env = {**os.environ, "HOME": scratch, "RAY_TMPDIR": scratch}
    args = generate_args(saved_source(4), tiny_model_path, tmp_path / "job", "--engine", "ray")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "genie_transforms.cli", *args], env=env, capture_output=True, text=True, timeout=600
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    assert "merged into" in done.stdout and len(load_dataset(str(tmp_path / "job" / "dataset"), split="train")) == 4
    noise = [line for line in done.stderr.splitlines() if line.strip()]
    assert noise == [], noise


def kill_every_process_with(env_entry: str, timeout: float = 60) -> None:
    """SIGKILL every process whose environment holds `env_entry`, until none is left: a Ray worker renames itself
    (`ray::ChunkWriter...`) and outlives its raylet for a moment, so neither the process group nor the command line
    reaches it, while it inherits the driver's environment. One that lived on could write a chunk after the count."""
    import signal
    import time
    from pathlib import Path

    marker, deadline = env_entry.encode() + b"\0", time.monotonic() + timeout
    while True:
        alive = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if marker in (proc / "environ").read_bytes():  # empty for a zombie: it is dead already
                    os.kill(int(proc.name), signal.SIGKILL)
                    alive.append(proc.name)
            except OSError:  # gone meanwhile, or not ours
                continue
        if not alive:
            return
        assert time.monotonic() < deadline, f"processes {alive} survive SIGKILL"
        time.sleep(0.1)


def test_a_driver_killed_midway_loses_nothing_and_a_rerun_makes_only_the_rest(
    ray_cluster, saved_source, tiny_model_path, tmp_path, capsys
):
    """kill -9 of the whole command (driver, its local cluster, its actors) while chunks are being written; the
    same command then makes only the unfinished chunks, and the job has every row once."""
    import signal
    import subprocess
    import sys
    import time

    source_dir, out = saved_source(24), tmp_path / "job"
    args = generate_args(source_dir, tiny_model_path, out, "--engine", "ray", "--chunk-size", "1")
    scratch = tempfile.mkdtemp(prefix="ray-", dir="/tmp")
    env = {**os.environ, "HOME": scratch, "RAY_TMPDIR": scratch}
    command = subprocess.Popen(
        [sys.executable, "-m", "genie_transforms.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 240
        while len(list((out / "chunks").glob("chunk-*.json"))) < 3 and time.monotonic() < deadline:
            assert command.poll() is None, "the command ended before it could be killed"
            time.sleep(0.02)
    finally:
        os.killpg(command.pid, signal.SIGKILL)
        command.wait()
        kill_every_process_with(f"RAY_TMPDIR={scratch}")  # its cluster's daemons and actors, wherever they went
        shutil.rmtree(scratch, ignore_errors=True)
    done = sorted(int(p.stem.split("-")[1]) for p in (out / "chunks").glob("chunk-*.json"))
    assert 3 <= len(done) < 24 and not (out / "dataset").exists()
    kept = {k: chunk_path(out, k).stat().st_mtime_ns for k in done}

    capsys.readouterr()
    assert main(args) == 0  # on the tests' cluster
    assert f"{24 - len(done)} chunks written" in capsys.readouterr().out
    assert {k: chunk_path(out, k).stat().st_mtime_ns for k in done} == kept
    rows = load_dataset(str(out / "dataset"), split="train")
    assert sorted(rows["source_index"]) == list(range(24))


def test_an_actor_whose_generator_differs_from_the_job_refuses_naming_both_values(ray_cluster, job, tmp_path):
    """The driver records the settings the job is made with; an actor that resolves others (a GPU actor's float16
    against a CPU driver's float32) stops before any chunk, naming the setting and both values."""
    source, fn, features, config = job
    recorded = {**fn.config, "generator": {**fn.config["generator"], "dtype": "float16"}}
    driver_view = FailOn(fn, -1, "raise")
    driver_view.config = recorded  # as a CPU driver records a job whose actors run elsewhere
    with pytest.raises(Exception, match=r"dtype: 'float16' on the driver, 'float32' in the actor"):
        run_chunks_ray(source, driver_view, features, tmp_path / "job", config=config, chunk_size=3, progress=False)
    assert not list((tmp_path / "job" / "chunks").glob("chunk-*.parquet"))
