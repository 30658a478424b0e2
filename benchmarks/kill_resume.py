"""Kill a search with SIGKILL at a random moment, resume it, and compare with an uninterrupted run.

For each strategy, one uninterrupted search on a tiny task (zoo:bert-tiny, three WordNet classes)
gives the reference ``summary.json``; then, ``--kills`` times, the same search is started in a new
folder, killed with ``kill -9`` after a random delay (seeded; spread over the whole run: setup,
scoring, trials, the final retraining, the outputs), and rerun with ``--resume`` (or, when the kill
came before the folder's manifest was written, rerun as it was). A run passes when the rerun exits
0, the folder holds ``best.safetensors`` and no temporary file, and its ``summary.json`` equals the
reference's apart from wall times and the folder name.

    python benchmarks/kill_resume.py [--kills 8] [--strategies random gga evolve hyperband nsga2]
                                     [--out benchmarks/results/kill_resume.json]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TASK = "wordnet:noun.animal,noun.food,noun.plant?per_class=10"
SETTINGS = {  # tiny budgets: each search takes a few seconds, most of it starting Python and torch
    "random": ["-k", "2", "--trials", "4", "--fidelity-steps", "5"],
    "gga": ["-k", "1", "2", "3", "--fidelity-steps", "5"],
    "evolve": ["-k", "2", "--trials", "4", "--fidelity-steps", "5"],
    "hyperband": ["-k", "2", "--min-steps", "2", "--max-steps", "6"],
    "nsga2": ["-k", "2", "--population", "3", "--trials", "5", "--fidelity-steps", "5"],
}


def command(strategy: str, out: str) -> list[str]:
    return [sys.executable, "-m", "adaptgraph", "search", "--task", TASK, "--backbone", "zoo:bert-tiny",
            "--strategy", strategy, *SETTINGS[strategy], "--epochs", "1", "--final", "best", "--no-progress",
            "--out", out]


def comparable(value):
    """A summary without what differs between runs of the same search: wall times and the folder."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k not in ("seconds", "run_dir")}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def summary(folder: str):
    with open(os.path.join(folder, "summary.json"), encoding="utf-8") as f:
        return comparable(json.load(f))


def one_kill(strategy: str, folder: str, delay: float, reference, env) -> dict:
    started = subprocess.Popen(command(strategy, folder), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    time.sleep(delay)
    finished_before_kill = started.poll() is not None
    started.send_signal(signal.SIGKILL)
    started.wait()
    resume = os.path.exists(os.path.join(folder, "manifest.json"))
    rerun = subprocess.run(command(strategy, folder) + (["--resume"] if resume else []), env=env,
                           capture_output=True, text=True)
    left = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    temporary = [name for name in left if name.endswith(".tmp") or ".new-" in name or ".old-" in name]
    same = rerun.returncode == 0 and "best.safetensors" in left and summary(folder) == reference
    return {"delay_s": round(delay, 2), "finished_before_kill": finished_before_kill, "resumed": resume,
            "exit_code": rerun.returncode, "temporary_files": temporary, "same_as_uninterrupted": same,
            "error": rerun.stderr.strip().splitlines()[-1] if rerun.returncode else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kills", type=int, default=8, help="killed runs per strategy")
    ap.add_argument("--strategies", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results/kill_resume.json")
    args = ap.parse_args()
    from adaptgraph.fileio import write_text_atomic

    started = time.strftime("%Y-%m-%d %H:%M:%S")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    rnd = random.Random(args.seed)
    results = {}
    with tempfile.TemporaryDirectory(prefix="kill_resume.") as work:
        for strategy in args.strategies:
            ref = os.path.join(work, f"{strategy}-ref")
            tic = time.perf_counter()
            subprocess.run(command(strategy, ref), env=env, capture_output=True, check=True)
            seconds = time.perf_counter() - tic
            reference = summary(ref)
            runs = []
            for k in range(args.kills):
                delay = rnd.uniform(0.3, 1.1) * seconds  # from setup to after the run would have ended
                runs.append(one_kill(strategy, os.path.join(work, f"{strategy}-{k}"), delay, reference, env))
                shutil.rmtree(os.path.join(work, f"{strategy}-{k}"), ignore_errors=True)
            results[strategy] = {"uninterrupted_s": round(seconds, 2), "runs": runs,
                                 "same": sum(r["same_as_uninterrupted"] for r in runs), "of": len(runs)}
            print(f"{strategy}: {results[strategy]['same']} of {len(runs)} killed runs resumed to the uninterrupted "
                  f"result (an uninterrupted run takes {seconds:.1f} s)", flush=True)
    total = sum(r["same"] for r in results.values()), sum(r["of"] for r in results.values())
    out = {"command": " ".join(["python", *sys.argv]), "started": started,
           "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
           "task": TASK, "backbone": "zoo:bert-tiny", "strategies": results, "same": total[0], "of": total[1]}
    write_text_atomic(args.out, json.dumps(out, indent=1) + "\n")
    print(f"{total[0]} of {total[1]} killed searches resumed to the uninterrupted result; wrote {args.out}")


if __name__ == "__main__":
    main()
