"""Write docs/results.md from the protocol's CSV files: each claim, its table and figure, a verdict, the commands.

Every number in the page is computed here from the CSVs in --results (none is typed in),
every verdict by the rule printed beside it (verdicts.py), and every section names the
command that regenerates its CSV and figure. A section whose CSV is missing says so.
Takes the same flags as the experiment scripts; only --results and --doc matter here.

    python -m benchmarks.paper.report                      # docs/results -> docs/results.md
"""
from __future__ import annotations

import json
import os
from typing import Optional, Sequence

from . import beyond, beyond_report, common, equal_compute_report, gga_by_norm as by_norm, lm_peft_report
from . import map_repeat as repeat, planted_report, verdicts as v
from .analysis import edge_values, floats, maps_correlation, spread, where

CLAIMS = {
    1: ("Placement matters, and depends on the task", "placement_sweep"),
    2: ("Random placements from the extended space beat the baseline", "random_vs_baseline"),
    3: ("Gradient rank predicts placement quality", "rank_predicts"),
    4: ("A few GGA adapters match the baseline", "gga_vs_baseline"),
}
SHORT = {
    1: "placement matters and depends on the task",
    2: "random placements from the extended space beat the baseline",
    3: "gradient rank predicts placement quality",
    4: "a few GGA adapters match the baseline",
}
HEADLINE = "**Headline** (the verdicts below, in order):"
PAPER = {
    1: "Where a single adapter sits changes transfer accuracy a lot, and the best place depends on the task.",
    2: "Random placements drawn from the extended space (long-range and recurrent edges) beat one parallel "
       "adapter per sub-layer.",
    3: "The rank of the gradient of a candidate edge correlates with how well an adapter there performs "
       "(Spearman; strong on larger data sets, weak on some small ones).",
    4: "A few adapters chosen greedily by gradient rank (GGA) match the every-sub-layer baseline.",
}


def main(argv: Optional[Sequence[str]] = None) -> None:
    s = common.parse(__doc__, argv)
    from adaptgraph.fileio import write_text_atomic

    write_text_atomic(s.doc, render(s, argv))
    common.say(f"wrote {s.doc}")


def render(s: common.Settings, argv: Optional[Sequence[str]]) -> str:
    r = _Reader(s, argv)
    claims = [_claim1(r), _claim2(r), _claim3(r), _claim4(r)]  # first: they record the verdicts the header sums up
    parts = [_header(r), *claims, _cost(r), _beyond(r), _lm_peft(r), _planted(r), _equal_compute(r), _commands(r)]
    return "\n\n".join(p.strip("\n") for p in parts) + "\n"


class _Reader:
    """The CSVs, their meta files and the report's paths."""

    def __init__(self, s: common.Settings, argv):
        self.s, self.argv = s, common.arguments(argv)
        self.rel = os.path.relpath(s.results, s.doc.parent)
        self.verdicts: dict[int, v.Verdict] = {}

    def rows(self, name: str) -> Optional[list[dict]]:
        path = self.s.results / f"{name}.csv"
        return common.read_csv(path) if path.exists() else None

    def meta(self, experiment: str) -> Optional[dict]:
        return common.read_meta(self.s.results, experiment)

    def tasks(self, rows: list[dict]) -> list[str]:
        return list(dict.fromkeys(r["task"] for r in rows))

    def figure(self, name: str, alt: str) -> str:
        return f"![{alt}]({self.rel}/{name}.png)" if (self.s.results / f"{name}.png").exists() else ""

    def command(self, experiment: str, script: Optional[str] = None) -> str:
        meta = self.meta(experiment)
        return meta["command"] if meta else common.command(script or experiment, self.argv)

    def provenance(self, experiment: str) -> str:
        meta = self.meta(experiment)
        if meta is None:
            return f"Not run yet: `{self.command(experiment)}`"
        m = meta["machine"]
        hw = f"GPU {m['gpu']}" if m.get("gpu") else f"{m['cpus']} CPU cores, no GPU"
        load = ", ".join(f"{x:.1f}" for x in m["load_average"])
        return (f"Regenerate: `{meta['command']}`  \nMeasured on {hw} (device in the CSV's `device` column), load "
                f"average {load} at the end; this invocation took {meta['wall_seconds'] / 60:.1f} min "
                f"(finished {meta['finished_at']}; runs read back from earlier invocations are not counted).")


def _section(r: _Reader, n: int, verdict: v.Verdict, body: list[str]) -> str:
    title, experiment = CLAIMS[n]
    r.verdicts[n] = verdict
    return "\n\n".join([f"## Claim {n}: {title}", f"**Paper:** {PAPER[n]}",
                        f"**Verdict: {verdict.word}.** {verdict.why}", f"*Rule:* {v.RULES[n]}", *body,
                        r.provenance(experiment)])


def _table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _acc(x) -> str:
    return f"{float(x) * 100:.1f}"


def _header(r: _Reader) -> str:
    s = r.s
    meta = next((r.meta(e) for _, e in CLAIMS.values() if r.meta(e)), None)
    settings = meta["settings"] if meta else s.to_dict()
    sweep = r.meta("placement_sweep")
    space = f" ({sweep['points']} stream points, {sweep['edges']} single edges swept)" if sweep else ""
    return f"""# Results: the paper's four claims on a real pretrained model and real data

*Written by `{common.command('report', r.argv)}` from the CSV files in `{r.rel}/` (one row per
training run); do not edit by hand. Each section gives the command that regenerates its numbers.*

The claims of Nowak et al. (2024, arXiv 2410.15858), tested with adaptgraph's own API on
`{settings['backbone']}`{space} and
{len(settings['tasks'])} WordNet task(s): {', '.join(f'`{t}`' for t in settings['tasks'])} (gloss -> supersense).
Rank-{settings['rank']} adapters; a sweep or search trial trains {settings['fidelity_steps']} steps, every
comparison run {settings['steps']} steps, batch {settings['batch_size']}, learning rate {settings['lr']},
seeds {settings['seeds']}. Accuracies are in percent: mean ± sample standard deviation
(min-max, n). "Seed spread" is max - min over seeds.

{HEADLINE} {headline(r.verdicts)}"""


def headline(verdicts: dict[int, v.Verdict]) -> str:
    """The one line the README quotes: each claim's verdict, in order."""
    return "; ".join(f"{SHORT[n]}: **{verdicts[n].word}**" for n in sorted(verdicts)) + "."


def _claim1(r: _Reader) -> str:
    sweep, retrain = r.rows("placement_sweep"), r.rows("placement_retrain")
    if not sweep or not retrain:
        return _section(r, 1, v.Verdict(v.UNMEASURED, "the sweep has not run"), [])
    tasks = r.tasks(sweep)
    rows = []
    for t in tasks:
        sw = v.sweep_of(sweep, t)
        seed_sd = f"{sw.seed_sd * 100:.1f}" if sw.seed_sd is not None else "-"
        rows.append([t, sw.edges, f"{sw.best['edges']} ({_acc(sw.best['val_acc'])})",
                     f"{sw.worst['edges']} ({_acc(sw.worst['val_acc'])})", f"{sw.median * 100:.1f}",
                     f"{sw.edge_sd * 100:.1f}", seed_sd])
    body = ["Single-edge sweep (validation accuracy, first seed; the seed sd is that of the best and worst edge "
            "and the probe re-run with every seed at the same fidelity):",
            _table(["task", "edges", "best edge (acc.)", "worst edge (acc.)", "median", "sd across edges",
                    "seed sd"], rows)]
    retrained = []
    for t in tasks:
        st = v.retrained(retrain, t)
        label = {role: where(retrain, task=t, role=role)[0]["edges"] or "(none)" for role in st if st[role]}
        retrained.append([t] + [f"{label.get(role, '')}: {st[role].text()}" if st[role] else "-"
                                for role in ("best", "worst", "probe")])
    body += ["Retrained with every seed (test accuracy):",
             _table(["task", "best edge", "worst edge", "linear probe"], retrained)]
    elsewhere = v.best_elsewhere(sweep, tasks)
    if elsewhere:
        body.append("Where each task's best edge ranks on the other task: " + "; ".join(
            f"{t}'s best {e} is beaten by {share:.0%} of the edges on the other task" for t, e, share in elsewhere
            if share is not None) + ".")
    loss_maps = maps_correlation(*(edge_values(where(sweep, task=t, role="edge"), "train_loss") for t in tasks[:2])) \
        if len(tasks) >= 2 else None
    if loss_maps:
        body.append(f"The two tasks' training-loss maps (same sweep runs): Spearman rho {loss_maps.rho:.2f} "
                    f"(p {loss_maps.p:.2g}, {loss_maps.n} edges).")
    body += [_repeat(r), _by_loss(r), r.figure("placement_heatmaps", "heat maps of single-edge validation accuracy"),
             r.figure("placement_loss_heatmaps", "heat maps of single-edge training loss"),
             r.figure("placement_tasks", "single-edge accuracy on one task against the other"),
             r.figure("placement_repeat", "the same edges' sweep runs with two seeds")]
    return _section(r, 1, v.claim1(sweep, retrain, tasks), body)


def _repeat(r: _Reader) -> str:
    """How well a map survives a new seed (map_repeat.py): the ceiling of any correlation with it."""
    rows = r.rows("placement_repeat")
    if not rows:
        return ""
    cells = []
    for t in r.tasks(rows):
        for target in repeat.TARGETS:
            c = repeat.reproducibility(rows, t, target)
            cells.append(f"{t} {target.replace('_', ' ')} rho {c.rho:.2f} (p {c.p:.2g}, n={c.n})" if c else
                         f"{t} {target.replace('_', ' ')}: undefined")
    return ("Is the map reproducible? The same sampled edges swept again with the second seed (Spearman between "
            f"the two seeds; `{r.command(repeat.EXPERIMENT, 'map_repeat')}`): "
            + "; ".join(cells) + ". This bounds how well any score can predict the map.")


def _by_loss(r: _Reader) -> str:
    """The edges with the lowest and highest sweep training loss, retrained (map_repeat.py): not part of the rule."""
    rows = r.rows("placement_loss_retrain")
    if not rows:
        return ""
    table = []
    for t in r.tasks(rows):
        low, high = (spread(floats(where(rows, task=t, role=role), "test_acc")) for role in ("low_loss", "high_loss"))
        edge = {role: where(rows, task=t, role=role)[0]["edges"] for role in ("low_loss", "high_loss")}
        if low and high:
            table.append([t, f"{edge['low_loss']}: {low.text()}", f"{edge['high_loss']}: {high.text()}",
                          v.pp(low.mean - high.mean), f"{max(low.range, high.range) * 100:.1f} pp"])
    return "\n\n".join([
        "A check added after the sweep (not part of the rule above): the edges with the lowest and the highest "
        "sweep *training loss*, the map that survives a new seed, retrained with every seed (test accuracy; "
        f"`{r.command(repeat.EXPERIMENT, 'map_repeat')}`):",
        _table(["task", "lowest-loss edge", "highest-loss edge", "difference", "larger seed spread"], table)])


def _claim2(r: _Reader) -> str:
    rows = r.rows("random_vs_baseline")
    if not rows:
        return _section(r, 2, v.Verdict(v.UNMEASURED, "not run"), [])
    table, verdicts = [], []
    for t in r.tasks(rows):
        verdict, rand, base, above = v.claim2_task(rows, t)
        verdicts.append(verdict)
        if rand and base:
            rec = spread(floats(where(rows, task=t, role="random"), "recurrent"))
            params = where(rows, task=t, role="baseline")[0]["params"]
            table.append([t, base.text(), rand.text(), f"{rand.hi * 100:.1f}", f"{above:.0%}",
                          f"{rec.mean:.1f}", params])
    word = v.combine(verdicts)
    body = [_table(["task", "baseline (seeds)", "random draws", "best draw", "draws above best baseline seed",
                    "recurrent edges per draw", "baseline params"], table),
            r.figure("random_vs_baseline", "test accuracy of random placements and of the baseline")]
    return _section(r, 2, v.Verdict(word, "; ".join(x.why for x in verdicts) + "."), body)


def _claim3(r: _Reader) -> str:
    rows = r.rows("rank_predicts")
    if not rows:
        return _section(r, 3, v.Verdict(v.UNMEASURED, "not run"), [])
    tasks = r.tasks(rows)
    verdicts = [v.claim3_task(rows, t) for t in tasks]
    table = []
    for t in tasks:
        for metric in ("rank", "erank", "fro", "nuclear"):
            acc = where(rows, task=t, metric=metric, target="val_acc")[0]
            loss = where(rows, task=t, metric=metric, target="train_loss")[0]
            table.append([t, metric, v.rho_text([acc]), v.rho_text([loss]), acc["n"], acc["distinct_scores"]])
    best = {target: "; ".join(f"{t}: {b['metric']} (rho {float(b['rho']):.2f})" for t in tasks
                              if (b := v.strongest(rows, t, target))) for target in ("val_acc", "train_loss")}
    body = [_table(["task", "score", "rho with val. acc. (p)", "rho with train loss (p)", "edges", "distinct scores"],
                   table),
            "Strongest predictor (rank against norms, the reviewers' ablation) of validation accuracy: "
            f"{best['val_acc']}; of training loss: {best['train_loss']}. A good placement has high accuracy and "
            "low loss, so a useful score correlates positively with the first and negatively with the second.",
            r.figure("rank_predicts", "gradient scores against single-edge validation accuracy"), _repeat(r)]
    return _section(r, 3, v.Verdict(v.combine(verdicts), "; ".join(x.why for x in verdicts) + "."), body)


def _claim4(r: _Reader) -> str:
    rows = r.rows("gga_vs_baseline")
    if not rows:
        return _section(r, 4, v.Verdict(v.UNMEASURED, "not run"), [])
    tasks, ks = r.tasks(rows), sorted({int(x["k"]) for x in where(rows, method="gga")})
    body = []
    for t in tasks:
        table = []
        for k in ks:
            cells = [v.method_spread(rows, t, m, k) for m in ("gga", "topk", "random")]
            g = where(rows, task=t, method="gga", k=k)[0]
            table.append([k, *[c.text() if c else "-" for c in cells], g["params"], g["edges"]])
        for m in ("baseline", "probe"):
            st, first = v.method_spread(rows, t, m), where(rows, task=t, method=m)
            if st:
                table.append([f"{m} ({first[0]['adapters']})", st.text(), "", "", first[0]["params"], ""])
        wins = {o: v.gga_beats(rows, t, o, ks) for o in ("topk", "random")}
        body += [f"**{t}** (test accuracy):",
                 _table(["k", "GGA", "top-k", "random-k", "GGA params", "GGA edges"], table),
                 f"GGA beats top-k beyond the seed spread at {wins['topk'][0]} of {wins['topk'][1]} k, "
                 f"random-k at {wins['random'][0]} of {wins['random'][1]}."]
    body += _evolve(r, rows)
    body.append(_by_norm(r, rows))
    body.append(r.figure("gga_vs_baseline", "test accuracy against the number of adapters"))
    return _section(r, 4, v.claim4(rows, tasks, ks), body)


def _by_norm(r: _Reader, rows: list[dict]) -> str:
    """GGA on the Frobenius norm (gga_by_norm.py), beside rank-based GGA: a post-hoc check, not in the rule."""
    norm = r.rows(by_norm.EXPERIMENT)
    if not norm:
        return ""
    table = []
    for t in r.tasks(norm):
        base = v.method_spread(rows, t, "baseline")
        for k in sorted({int(x["k"]) for x in where(norm, task=t)}):
            fro, gga = v.method_spread(norm, t, by_norm.METHOD, k), v.method_spread(rows, t, "gga", k)
            first = where(norm, task=t, k=k)[0]
            table.append([t, k, fro.text() if fro else "-", gga.text() if gga else "-",
                          v.pp(fro.mean - base.mean) if fro and base else "-", first["edges"], first["params"]])
    return "\n\n".join([
        f"A check added after claim 3's data (not part of the rule): GGA on the gradient's Frobenius norm, the "
        f"score that predicted the training-loss map, instead of its rank (test accuracy; "
        f"`{r.command(by_norm.EXPERIMENT)}`):",
        _table(["task", "k", "GGA on Frobenius norm", "GGA on rank", "norm GGA - baseline mean", "edges",
                "params"], table)])


def _evolve(r: _Reader, rows: list[dict]) -> list[str]:
    evolved = r.rows("evolve")
    if not evolved:
        return []
    best = [e for e in evolved if e["best"] == "True"]
    if not best:
        return [f"The evolve search ran {len(evolved)} trials but found no spec within the budget."]
    b, t = best[0], best[0]["task"]
    base, gga4 = v.method_spread(rows, t, "baseline"), v.method_spread(rows, t, "gga", 4)
    test = _acc(b["test_acc"]) if b["test_acc"] else "-"
    return [f"**evolve** (budget 4 adapters, {len(evolved)} trials on {t}): best `{b['edges']}` "
            f"({b['mutation']}), {b['params']} adapter parameters, validation {_acc(b['val_acc'])} at the search "
            f"fidelity, test {test} after retraining (one seed); baseline {base.text() if base else '-'}, "
            f"GGA k=4 {gga4.text() if gga4 else '-'}."]


def _cost(r: _Reader) -> str:
    rows = r.rows("cost")
    head = "## Cost: scoring, training, and the second pass of recurrent edges"
    if not rows:
        return f"{head}\n\n{r.provenance('cost')}"
    main = [[x["measure"], x["label"], f"{float(x['wall_s']):.1f}", f"{float(x['cpu_s']):.1f}", x["repeats"]]
            for x in rows if x["measure"] in ("scoring", "training")]
    by = {x["label"]: x for x in rows if x["measure"] == "forward"}
    probe = float(by["probe"]["wall_s"]) if "probe" in by else None
    fwd = []
    for label, x in by.items():
        if label.endswith("_no_recurrent"):
            continue
        ms = float(x["wall_s"]) * 1000
        plain = by.get(f"{label}_no_recurrent")
        extra = f"{ms - float(plain['wall_s']) * 1000:+.1f}" if plain else "0 (no recurrent edge)"
        rel = f"{float(x['wall_s']) / probe:.2f}x" if probe else "-"
        fwd.append([label, x["adapters"], x["recurrent"], x["passes"], f"{ms:.1f}", extra, rel])
    ratio = _ratio(rows)
    return "\n\n".join([head, ratio,
                        _table(["measure", "what", "wall s (median)", "CPU s (median)", "repeats"], main),
                        "Forward pass of one batch (inference); the extra time of the recurrent edges is the pick "
                        "against the same pick without them:",
                        _table(["spec", "adapters", "recurrent", "passes", "ms per forward",
                                 "ms for the recurrent edges", "vs backbone"], fwd),
                        _train_times(r), r.figure("cost", "scoring and training time, forward time per spec"),
                        r.provenance("cost")])


def _ratio(rows: list[dict]) -> str:
    score = [x for x in rows if x["measure"] == "scoring"]
    train = [x for x in rows if x["measure"] == "training"]
    if not score or not train:
        return ""
    w = float(score[0]["wall_s"]) / float(train[0]["wall_s"])
    c = float(score[0]["cpu_s"]) / float(train[0]["cpu_s"])
    return (f"One scoring pass takes {w:.1%} of the wall-clock time of one {train[0]['label']} training run "
            f"({c:.1%} of its CPU time), measured back to back in one process.")


def _train_times(r: _Reader) -> str:
    rows = r.rows("gga_vs_baseline")
    if not rows:
        return ""
    cells = []
    for m in ("probe", "gga", "topk", "random", "baseline"):
        st = spread(floats(where(rows, method=m), "seconds"))
        if st:
            cells.append(f"{m} {st.mean:.1f} s (n={st.n})")
    meta = r.meta("gga_vs_baseline")
    at_once = f"{meta['settings']['workers']} runs at a time" if meta else "as run"
    return f"Mean wall-clock seconds per training run in claim 4 ({at_once}): " + ", ".join(cells) + "."


def _beyond(r: _Reader) -> str:
    """Issue 16's comparison, from beyond.csv only (``beyond_report``); says so when it has not been run."""
    return beyond_report.section(r.rows(beyond.EXPERIMENT), r.provenance(beyond.EXPERIMENT),
                                 r.figure(beyond.EXPERIMENT, "test accuracy of every variant against k"),
                                 r.command(beyond.EXPERIMENT))


def _lm_peft(r: _Reader) -> str:
    """adaptgraph beside PEFT on a decoder, from lm_peft.csv and its meta (``lm_peft_report``)."""
    name, meta = lm_peft_report.EXPERIMENT, r.meta(lm_peft_report.EXPERIMENT)
    return lm_peft_report.section(r.rows(name), meta, r.provenance(name), lm_peft_report.command(meta))


def _planted(r: _Reader) -> str:
    return _issue22(r, planted_report, "planted edges recovered by each method, and chance")


def _equal_compute(r: _Reader) -> str:
    path = r.s.results / "equal_compute.estimate.json"
    estimate = json.loads(path.read_text()) if path.exists() else None
    meta = r.meta(equal_compute_report.EXPERIMENT)  # written when the whole plan has run
    earlier_rows, earlier_meta = r.rows(equal_compute_report.EARLIER), r.meta(equal_compute_report.EARLIER)
    earlier = (earlier_rows, earlier_meta) if earlier_rows and earlier_meta else None
    return _issue22(r, equal_compute_report, "test result of each method against the search budget", estimate=estimate,
                    meta=meta, earlier=earlier)


def _issue22(r: _Reader, module, alt: str, **extra) -> str:
    """A section of issue 22 from its files only (``planted_report``, ``equal_compute_report``)."""
    name = module.EXPERIMENT
    return module.section(r.rows(name), r.provenance(name), r.figure(name, alt), r.command(name), **extra)


def _commands(r: _Reader) -> str:
    lines = [r.command(e) for _, e in CLAIMS.values()]
    lines.insert(1, r.command(repeat.EXPERIMENT, "map_repeat"))
    lines.append(r.command(by_norm.EXPERIMENT))
    lines.append(r.command(beyond.EXPERIMENT))
    lines += [r.command(planted_report.EXPERIMENT), r.command(equal_compute_report.EXPERIMENT)]
    lines += [r.command("cost"), lm_peft_report.command(r.meta(lm_peft_report.EXPERIMENT)),
              common.command("report", r.argv)]
    return "## Regenerating everything\n\nIn this order (each resumes; see `benchmarks/paper/README.md`):\n\n" \
           "```bash\n" + "\n".join(lines) + "\n```"


if __name__ == "__main__":
    main()
