"""Indexing on a Ray cluster started by the test on loopback (a head and a worker node, one
CPU each): the same vectors as the local indexer, incremental, and nothing lost or doubled
when a worker or the driver is killed mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_consistent, make_videos

from vsearch.config import Settings
from vsearch.db import queries
from vsearch.pipeline.library import Library

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def ray_address():
    try:
        from ray.cluster_utils import Cluster
    except ImportError:
        message = "Ray is not installed: pip install -e '.[ray]' (scripts/setup.sh)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    small = {"num_cpus": 1, "object_store_memory": 80 * 2**20, "include_dashboard": False}
    cluster = Cluster(initialize_head=True, connect=False, head_node_args=dict(small))
    small.pop("include_dashboard")
    cluster.add_node(**small)
    cluster.wait_for_nodes()
    yield cluster.address
    cluster.shutdown()


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    return make_videos(
        tmp_path_factory.mktemp("ray-videos"), 6, seconds=3, hue_step=50, name="v{}.mp4"
    )


def frames_by_path(root: Path) -> dict[str, np.ndarray]:
    with Library.open(settings=Settings.load(library=root)) as lib, lib.store.sessions() as session:
        out = {}
        for video in queries.list_videos(session=session):
            frames = queries.video_frames(video.id, session=session)
            out[Path(video.path).name] = np.concatenate(
                [frames.times[:, None], frames.vectors], axis=1
            )
        return out


def driver(
    lib: Path, videos: Path, address: str, *extra: str, slow_save: float = 0.0
) -> subprocess.Popen:
    """`vsearch index --ray` in its own process; ``slow_save``: seconds each of the driver's
    index saves takes, one after every video (slow_save_cli.py), so that a kill lands while
    files remain to be done however loaded the machine is."""
    cmd = [sys.executable, "-m", "vsearch"]
    if slow_save:
        cmd = [
            sys.executable,
            str(REPO / "tests" / "reliability" / "slow_save_cli.py"),
            str(slow_save),
        ]
    cmd += ["-q", "--library", str(lib), "index", str(videos)]
    cmd += ["--model", "colorgrid", "--fps", "4", "--ray", address, "--json", *extra]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def committed(lib: Path) -> int:
    if not (lib / "library.db").exists():
        return 0
    try:
        with Library.open(settings=Settings.load(library=lib)) as opened:
            return sum(v.status == "indexed" for v in opened.videos())
    except Exception:  # being created
        return 0


def actor_pids() -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    return [int(line.split()[0]) for line in out.splitlines() if "ray::FileEncoder" in line]


def test_ray_gives_the_local_indexers_vectors_and_stays_incremental(tmp_path, videos, ray_address):
    local = Library.open(tmp_path / "local", create=True, model="colorgrid", fps=4)
    with local:
        local.index([videos])
    proc = driver(tmp_path / "ray", videos, ray_address, "--ray-actors", "2")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert len(report["indexed"]) == 6 and report["failed"] == []
    assert report["stage_seconds"]["encode"] > 0
    ours, theirs = frames_by_path(tmp_path / "ray"), frames_by_path(tmp_path / "local")
    assert ours.keys() == theirs.keys()
    for name in ours:
        np.testing.assert_allclose(ours[name], theirs[name], atol=1e-6, err_msg=name)
    again = driver(tmp_path / "ray", videos, ray_address)
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert len(json.loads(out)["skipped"]) == 6  # nothing decoded twice


def test_a_killed_worker_costs_only_its_file_in_flight(tmp_path, videos, ray_address):
    lib = tmp_path / "lib"
    proc = driver(lib, videos, ray_address, "--ray-actors", "2", slow_save=1.0)
    deadline = time.monotonic() + 120
    while not actor_pids() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    while committed(lib) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    pids = actor_pids()
    if not pids or proc.poll() is not None:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(
            f"the run ended ({proc.returncode}) before a worker could be killed:\n{out}\n{err}"
        )
    os.kill(pids[0], signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    report = json.loads(out)
    assert len(report["indexed"]) == 6 and report["failed"] == [], report
    assert assert_consistent(lib)["videos"] == 6


def test_a_killed_driver_resumes_from_its_last_commit(tmp_path, videos, ray_address):
    lib = tmp_path / "lib"
    proc = driver(lib, videos, ray_address, "--ray-actors", "1", slow_save=1.5)
    deadline = time.monotonic() + 120
    while committed(lib) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if proc.poll() is not None:
        out, err = proc.communicate()
        pytest.fail(
            f"the run ended ({proc.returncode}) before the driver could be killed:\n{out}\n{err}"
        )
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    kept = committed(lib)
    assert 1 <= kept < 6
    again = driver(lib, videos, ray_address, "--ray-actors", "2")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    report = json.loads(out)
    assert len(report["skipped"]) == kept and len(report["indexed"]) == 6 - kept, (kept, report)
    assert assert_consistent(lib)["videos"] == 6
