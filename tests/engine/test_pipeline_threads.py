"""NumPy's BLAS on one thread while analyses run on any threads, and its threads given back after.

threadpoolctl 3.8 lets only the thread that first set an OpenBLAS limit change it again (its
"controlling thread"); a limit set from any other thread silently did nothing. A run on a worker
thread was then never limited, and overlapping runs on two threads could leave the process on one
BLAS thread for good (a 2000x2000 matrix product 326 ms instead of 136 ms)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from inference.engine import pipeline as pipeline_module
from inference.engine.pipeline import Pipeline, _single_threaded_blas
from tests.engine.test_evaluation import make_tiny_artifact, smear_like

WAIT_S = 60.0


def blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]


@pytest.fixture
def original_blas_threads() -> Iterator[list[int]]:
    """The process's BLAS threads before the test, put back after it even if it failed: a process
    left on one thread would slow every later test."""
    from threadpoolctl import OpenBLASController, ThreadpoolController

    libraries = ThreadpoolController().select(user_api="blas").lib_controllers
    threads = {library.filepath: library.num_threads for library in libraries}
    before = blas_threads()
    assert before, "NumPy's BLAS library was not found"
    if max(before) < 2:
        pytest.skip("BLAS runs on one thread on this machine: a limit to one cannot be seen")
    yield before
    OpenBLASController.clear_controlling_thread(force=True)
    for library in libraries:
        library.set_num_threads(threads[library.filepath])
    OpenBLASController.clear_controlling_thread(force=True)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_artifact(tmp_path_factory.mktemp("threads") / "model")


@pytest.mark.parametrize("first_started_ends", ["first", "last"])
def test_overlapping_limits_on_two_threads_are_applied_and_given_back(
    original_blas_threads: list[int], first_started_ends: str
) -> None:
    # Each analysis on a thread of its own; both threads live on after their analyses, as a worker
    # pool's do (a thread that has ended gives up threadpoolctl's control by itself).
    pools = {name: ThreadPoolExecutor(max_workers=1) for name in ("first", "second")}
    limits = {name: _single_threaded_blas() for name in pools}

    def start(name: str) -> list[int]:
        limits[name].__enter__()
        return blas_threads()

    def end(name: str) -> None:
        limits[name].__exit__(None, None, None)

    try:
        inside = {name: pools[name].submit(start, name).result(WAIT_S) for name in pools}
        ending = ["first", "second"] if first_started_ends == "first" else ["second", "first"]
        pools[ending[0]].submit(end, ending[0]).result(WAIT_S)
        still_running = blas_threads()
        pools[ending[1]].submit(end, ending[1]).result(WAIT_S)
        after = blas_threads()
    finally:
        for pool in pools.values():
            pool.shutdown()
    assert inside == {"first": [1] * len(original_blas_threads), "second": [1] * len(original_blas_threads)}
    assert still_running == [1] * len(original_blas_threads)
    assert after == original_blas_threads


def test_analyses_on_worker_threads_after_one_on_this_thread_are_limited(
    model_dir: Path, original_blas_threads: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pipeline.run end to end: one run here (as a warm-up is), then two overlapping runs on two
    worker threads, the one that started first ending first."""
    pipeline = Pipeline(model_dir)
    field = smear_like(np.random.default_rng(5), tint=0, size=(180, 224))
    seen: list[list[int]] = []
    order = threading.Lock()
    first_inside, second_inside, first_done = threading.Event(), threading.Event(), threading.Event()
    real_segment = pipeline_module.segment_cells

    def gated_segment(*args: object, **kwargs: object) -> object:
        with order:
            seen.append(blas_threads())
            call = len(seen)
        if call == 2:  # the first worker's run: held until the second's is under way
            first_inside.set()
            assert second_inside.wait(WAIT_S)
        elif call == 3:  # the second's: held until the first's has ended
            second_inside.set()
            assert first_done.wait(WAIT_S)
        return real_segment(*args, **kwargs)

    monkeypatch.setattr(pipeline_module, "segment_cells", gated_segment)
    pipeline.run(field)
    assert blas_threads() == original_blas_threads
    first_pool, second_pool = ThreadPoolExecutor(max_workers=1), ThreadPoolExecutor(max_workers=1)
    try:
        first = first_pool.submit(pipeline.run, field)
        assert first_inside.wait(WAIT_S)
        second = second_pool.submit(pipeline.run, field)
        first.result(WAIT_S)
        first_done.set()
        second.result(WAIT_S)
        after = blas_threads()
    finally:
        first_done.set()
        first_pool.shutdown()
        second_pool.shutdown()
    assert seen == [[1] * len(original_blas_threads)] * 3
    assert after == original_blas_threads
