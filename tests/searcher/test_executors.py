"""Executors: the same trials and best spec on local, process and Ray; crashed workers are retried once."""
import pytest
from search_fixtures import comparable, crash_once, quick_search

from adaptgraph.errors import SearchError
from adaptgraph.searcher import Evolve, ProcessExecution, RayExecution, search_config
from adaptgraph.searcher.executors import LocalExecutor, ProcessExecutor, make_executor
from adaptgraph.searcher.trial import TrialTask

EVOLVE = Evolve(trials=6, population=3)


@pytest.fixture(scope="module")
def local_result(task_file, tmp_path_factory):
    return quick_search(task_file, tmp_path_factory.mktemp("local") / "run", strategy=EVOLVE)


@pytest.mark.slow
def test_process_executor_gives_the_local_result(task_file, tmp_path, local_result):
    result = quick_search(task_file, tmp_path / "run", strategy=EVOLVE, executor=ProcessExecution(workers=2))
    assert comparable(result) == comparable(local_result)
    assert result.best.spec_text == local_result.best.spec_text
    assert result.best.test_accuracy == local_result.best.test_accuracy


@pytest.mark.slow
def test_ray_executor_gives_the_local_result(task_file, tmp_path, local_result):
    ray = pytest.importorskip("ray")
    # "local": a fresh instance even when a cluster already runs on the machine (num_cpus is
    # refused when joining one)
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = quick_search(task_file, tmp_path / "run", strategy=EVOLVE, executor="ray")
    finally:
        ray.shutdown()
    assert comparable(result) == comparable(local_result)
    assert result.best.test_accuracy == local_result.best.test_accuracy


def test_a_crashed_worker_is_replaced_and_its_trial_retried_once(tmp_path):
    config = {"marker_dir": str(tmp_path), "crash_once": [1], "always_crash": 2}
    tasks = [TrialTask(k, "search", "", "task", 0, "zoo:bert-tiny", config) for k in range(4)]
    done = []
    with ProcessExecutor(workers=2, fn=crash_once) as executor:
        executor.run(tasks, lambda trained: done.append(trained.outcome))
    by_trial = {o.trial: o for o in done}
    assert sorted(by_trial) == [0, 1, 2, 3] and len(done) == 4
    assert [(by_trial[k].status, by_trial[k].attempts) for k in (0, 1, 3)] == [("ok", 1), ("ok", 2), ("ok", 1)]
    assert by_trial[2].status == "failed" and by_trial[2].attempts == 2
    assert by_trial[2].error == "WorkerCrashed: the worker process died (exit code 7) on each of 2 attempts"


@pytest.mark.parametrize("name, option, owner", [("local", {"address": "auto"}, "ray"),
                                                 ("process", {"gpus_per_trial": 1.0}, "ray"),
                                                 ("local", {"workers": 4}, "process"), ("ray", {"workers": 2}, "process")])
def test_an_option_of_another_executor_cannot_be_given(name, option, owner):
    with pytest.raises(SearchError, match=f"is an option of the {owner} executor, but the executor is '{name}'"):
        search_config(executor={"kind": name, **option})


def test_an_executor_config_makes_its_executor():
    assert search_config(executor="process").executor == ProcessExecution(workers=2)
    with ProcessExecution(workers=3).make() as executor:
        assert isinstance(executor, ProcessExecutor) and executor.workers == 3
    assert RayExecution(address="auto").model_dump() == {"kind": "ray", "address": "auto", "cpus_per_trial": None,
                                                         "gpus_per_trial": None}



@pytest.mark.parametrize("name", ["local", "process", "ray"])
def test_tasks_returned_by_on_done_are_run_too(name, tmp_path):
    """A multi-fidelity search promotes a spec when its trial finishes: the executor runs the new trial."""
    config = {"marker_dir": str(tmp_path), "crash_once": [], "always_crash": -1}
    tasks = [TrialTask(k, "search", "", "task", 0, "zoo:bert-tiny", config) for k in range(3)]
    done = []

    def on_done(trained):
        done.append(trained.outcome.trial)
        t = trained.outcome.trial
        return [TrialTask(t + 10, "search", "", "task", 0, "zoo:bert-tiny", config)] if t < 2 else None

    if name == "ray":
        ray = pytest.importorskip("ray")
        from adaptgraph.searcher.ray_executor import RayExecutor

        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        executor = RayExecutor(fn=crash_once)
    else:
        executor = LocalExecutor(fn=crash_once) if name == "local" else ProcessExecutor(workers=2, fn=crash_once)
    try:
        executor.run(tasks, on_done)
    finally:
        executor.close()
        if name == "ray":
            ray.shutdown()
    assert sorted(done) == [0, 1, 2, 10, 11]
    assert done.index(10) > done.index(0) and done.index(11) > done.index(1)
