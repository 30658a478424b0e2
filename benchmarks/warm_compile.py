"""Wall time of a warm `adaptgraph compile SPEC` from the shell against `python -c "import torch"`.

Every figure is a fresh process, timed from outside (Python starting included). The trace cache
is a new private folder: one cold compile fills it (graph and backbone snapshot), then the two
commands alternate, the order swapped every round so that neither always runs on a warmer
machine. The ratio to read is the median of the per-round ratios (compile / import torch).

    python benchmarks/warm_compile.py [--spec specs/minilm_gga4.adapt] [--rounds 15] \
        [--out benchmarks/results/warm_compile.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def wall(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spec", default="specs/minilm_gga4.adapt")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--out", default="benchmarks/results/warm_compile.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="adaptgraph-warm-") as cache:
        env = {**os.environ, "ADAPTGRAPH_TRACE_CACHE": cache, "PYTHONPATH": str(ROOT)}
        torch_cmd = [sys.executable, "-c", "import torch"]
        compile_cmd = [sys.executable, "-m", "adaptgraph", "compile", args.spec]
        load_before, started = os.getloadavg(), time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        cold = wall(compile_cmd, env)
        entries = sorted(p.suffix for p in Path(cache).iterdir())
        rows = []
        for r in range(args.rounds):
            pair = [("torch", torch_cmd), ("compile", compile_cmd)]
            times = {name: wall(cmd, env) for name, cmd in (pair if r % 2 == 0 else pair[::-1])}
            rows.append({**times, "ratio": times["compile"] / times["torch"], "loadavg": os.getloadavg()[0]})
            print(f"round {r}: import torch {times['torch']:.2f} s, compile {times['compile']:.2f} s, "
                  f"ratio {rows[-1]['ratio']:.2f}, load {rows[-1]['loadavg']:.1f}", flush=True)
    med = {k: statistics.median(row[k] for row in rows) for k in ("torch", "compile", "ratio")}
    ratios = sorted(row["ratio"] for row in rows)
    result = {
        "spec": args.spec, "rounds": args.rounds, "cold_compile_seconds": cold, "cache_entries": entries,
        "median_import_torch_seconds": med["torch"], "median_warm_compile_seconds": med["compile"],
        "median_ratio": med["ratio"], "ratio_quartiles": [ratios[len(ratios) // 4], ratios[(3 * len(ratios)) // 4]],
        "loadavg_before": load_before, "loadavg_after": os.getloadavg(), "rows": rows,
        "machine": {"cpu_count": os.cpu_count(), "python": platform.python_version()},
        "started": started,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"cold {cold:.2f} s; median import torch {med['torch']:.2f} s, warm compile {med['compile']:.2f} s, "
          f"median ratio {med['ratio']:.2f} (quartiles {result['ratio_quartiles'][0]:.2f}-"
          f"{result['ratio_quartiles'][1]:.2f})")


if __name__ == "__main__":
    main()
