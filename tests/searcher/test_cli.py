"""`adaptgraph search` as a user runs it."""
import json

import pytest

from adaptgraph.cli import build_parser, main


def args(task_file, out, *more) -> list[str]:
    return ["search", "--task", f"csv:{task_file}", "--backbone", "zoo:bert-tiny", "-k", "1", "2",
            "--fidelity-steps", "3", "--epochs", "1", "--batch-size", "8", "--score-batches", "1",
            "--score-head", "random", "--final", "best", "--out", str(out), *more]


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["search", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "--resume" in out and "--strategy STRATEGY" in out
    assert "how specs are proposed: single, random, gga, evolve" in " ".join(out.split())


def test_text_report_and_json(task_file, tmp_path, capsys):
    assert main(args(task_file, tmp_path / "a")) == 0
    out = capsys.readouterr().out
    assert out.startswith("gga search: 2 trials (0 failed, 0 duplicate proposals skipped) in ")
    assert "best: trial " in out and "retrained at full budget: validation " in out and 'backbone "zoo:bert-tiny"' in out
    assert main(args(task_file, tmp_path / "b", "--json")) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["strategy"] == "gga" and len(data["trials"]) == 2 and data["best"]["test_accuracy"] is not None


def test_user_errors_are_one_line_messages(task_file, tmp_path, capsys):
    assert main(args(task_file, tmp_path / "c", "--trials", "3")) == 1
    assert "gga trains one spec per k, so a number of trials does not apply" in capsys.readouterr().err
    assert main(args(task_file, tmp_path / "d", "--resume")) == 1
    assert "nothing to resume" in capsys.readouterr().err
    (tmp_path / "e").mkdir()
    assert main(args(task_file, tmp_path / "e", "--budget-params", "10")) == 1
    assert "no single edge fits the parameter budget of 10" in capsys.readouterr().err
    assert main(args(task_file, tmp_path / "e")) == 0  # the folder of a search that never ran a trial is reused



def test_every_number_of_the_summary_names_its_stage(task_file, tmp_path, capsys):
    assert main(args(task_file, tmp_path / "a", "--baseline")) == 0
    printed = capsys.readouterr()
    lines, log = printed.out.splitlines(), printed.err.splitlines()
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    base = summary["baseline"]
    i = next(k for k, line in enumerate(lines) if line.startswith("baseline (every sub-layer): "))
    assert lines[i] == (f"baseline (every sub-layer): trial {base['trial']}, {base['adapters']} adapters, "
                        f"{base['params']:,} trainable parameters")
    pct = lambda x: f"{100 * x:.2f}%"  # noqa: E731
    assert lines[i + 1] == (f"  validation accuracy {pct(base['validation_accuracy'])} at the search fidelity; retrained "
                            f"at full budget: validation {pct(base['final_validation_accuracy'])}, "
                            f"test {pct(base['test_accuracy'])}")
    assert lines[2].startswith("  validation accuracy ") and " at the search fidelity; retrained at full budget: " in lines[2]
    # stderr is not a terminal here: progress comes as plain lines, one stage after another
    assert log.index("search: 0/3 trials, 0 s elapsed") < log.index("final retraining: 0/2 trials, 0 s elapsed")
    assert any(line.startswith("search: 3/3 trials, ") and ", best validation accuracy 0." in line for line in log)
    assert any(line.startswith("final retraining: 2/2 trials, ") and " test accuracy 0." in line for line in log)
