"""Evaluation reports: report.json, report.md (tables), PNG plots, and the CI gate."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path
from typing import Any

# Metric name -> (label, higher is better)
METRICS = {
    "hit_at_1": ("hit@1", True),
    "hit_at_5": ("hit@5", True),
    "mrr_at_10": ("MRR@10", True),
    "ndcg_at_10": ("nDCG@10", True),
    "citation_precision": ("citation precision", True),
    "citation_recall": ("citation recall", True),
    "token_f1": ("answer token F1", True),
    "rouge_l": ("answer ROUGE-L", True),
    "answer_span_found": ("answer span in answer", True),
    "abstain_accuracy": ("abstention accuracy (unanswerable)", True),
    "false_abstention": ("false abstentions (answerable)", False),
    "language_match": ("answer in question's language", True),
    "latency_median_ms": ("latency median, ms", False),
    "latency_p95_ms": ("latency p95, ms", False),
    "removed_sentence_share": ("generated sentences removed by verification", False),
    "fallback_rate": ("fell back to extractive", False),
}


def _cell(value: Any, metric: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.1f}" if metric.endswith("_ms") else f"{value:.3f}"


def table(metrics: dict[str, dict[str, float]], configs: list[str]) -> list[str]:
    lines = ["| metric | " + " | ".join(configs) + " |", "|---|" + "---:|" * len(configs)]
    for metric, (label, _) in METRICS.items():
        if not any(metric in metrics[c] for c in configs):
            continue
        lines.append(f"| {label} | " + " | ".join(_cell(metrics[c].get(metric), metric) for c in configs) + " |")
    return lines


def markdown(reports: list[dict[str, Any]]) -> str:
    lines = ["# Evaluation report", ""]
    for report in reports:
        configs = report["configs"]
        dense = report["dense"]
        lines += [
            f"## {report['set']}", "",
            f"{report['questions_count']} questions; index of {report['index']['documents']} documents, "
            f"{report['index']['chunks']} chunks; dense search: "
            + ("on (" + str(dense["model"]) + ")" if dense["enabled"] else f"off ({dense['reason']})")
            + f"; {report['seconds']} s.", "",
            *table(report["metrics"], configs), "",
        ]
        for key, title in (("by_language", "language"), ("by_type", "question type")):
            for config in configs:
                groups = report[key]
                lines += [f"### {config}, by {title}", ""]
                group_names = list(groups)
                rows = {name: groups[name][config] for name in group_names}
                lines += table(rows, group_names)
                lines.append("")
    return "\n".join(lines)


def plots(reports: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for report in reports:
        name = report["set"].replace("/", "-")
        configs = report["configs"]
        shown = [m for m, (_, higher) in METRICS.items() if higher and any(
            not math.isnan(report["metrics"][c].get(m, float("nan"))) for c in configs)]
        figure, axis = plt.subplots(figsize=(max(8, len(shown) * 1.1), 4.5))
        width = 0.8 / len(configs)
        for index, config in enumerate(configs):
            values = [report["metrics"][config].get(m, float("nan")) for m in shown]
            axis.bar([i + index * width for i in range(len(shown))], values, width, label=config)
        axis.set_xticks([i + width * (len(configs) - 1) / 2 for i in range(len(shown))])
        axis.set_xticklabels([METRICS[m][0] for m in shown], rotation=30, ha="right", fontsize=8)
        axis.set_ylim(0, 1)
        axis.set_title(f"{report['set']}: metric per configuration")
        axis.legend(fontsize=8)
        figure.tight_layout()
        path = out_dir / f"metrics-{name}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
        written.append(_outcomes_plot(report, out_dir / f"questions-{name}.png", plt))
    return written


def _outcome_code(question: dict[str, Any], result: dict[str, Any]) -> int:
    """-1 not applicable (no answers from this configuration), 0 wrong, 1 only in the top 5,
    2 top-1 hit or correct abstention, 3 a correct citation."""
    answers = "answer" in result
    if not question["answerable"]:
        return -1 if not answers else 2 if result.get("abstained") else 0
    if answers and any(c["correct"] for c in result.get("citations", [])):
        return 3
    relevant = result["relevant"]
    if relevant[:1] and relevant[0]:
        return 2
    return 1 if any(relevant[:5]) else 0


def _outcomes_plot(report: dict[str, Any], path: Path, plt) -> Path:
    from matplotlib.colors import ListedColormap

    questions = sorted(report["questions"], key=lambda q: (q["type"], q["language"], q["id"]))
    configs = report["configs"]
    grid = [[_outcome_code(q, q["results"][c]) for q in questions] for c in configs]
    figure, axis = plt.subplots(figsize=(max(10, len(questions) * 0.09), 1.8 + 0.45 * len(configs)))
    colours = ListedColormap(["#bdbdbd", "#d7301f", "#fdae61", "#a6d96a", "#1a9641"])
    axis.imshow(grid, aspect="auto", cmap=colours, vmin=-1, vmax=3, interpolation="nearest")
    axis.set_yticks(range(len(configs)))
    axis.set_yticklabels(configs, fontsize=8)
    groups: dict[str, list[int]] = {}
    for index, question in enumerate(questions):
        groups.setdefault(question["type"], []).append(index)
    axis.set_xticks([sum(i) / len(i) for i in groups.values()])
    axis.set_xticklabels(list(groups), fontsize=7)
    for indices in list(groups.values())[1:]:
        axis.axvline(indices[0] - 0.5, color="white", linewidth=1.5)
    axis.set_xlabel("questions by type\nred: miss or wrong abstention · orange: in top 5 · light green: top-1 hit or "
                    "correct abstention · green: correct citation · grey: no answers", fontsize=7)
    axis.set_title(f"{report['set']}: outcome per question", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def write(reports: list[dict[str, Any]], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(reports, ensure_ascii=False, indent=1), encoding="utf-8")
    (out_dir / "report.md").write_text(markdown(reports), encoding="utf-8")
    return [out_dir / "report.json", out_dir / "report.md", *plots(reports, out_dir)]


RULES = ("required", "hybrid_floor")  # tables of thresholds.toml that are rules, not sets


def load_thresholds(path: Path) -> dict[str, Any]:
    """The thresholds file, parsed; ValueError saying what to mend when it is not TOML or lacks a rule."""
    try:
        bounds = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid TOML: {error}") from None
    missing = [f"[{name}]" for name in RULES if not isinstance(bounds.get(name), dict)]
    if missing:
        raise ValueError(f"{path} has no {' or '.join(missing)} table (see eval/thresholds.toml)")
    return bounds


def gate(reports: list[dict[str, Any]], thresholds_path: Path) -> tuple[list[str], list[str]]:
    """(failures, exemptions used) of the reports against eval/thresholds.toml:

    - `[set.config] metric = bound`: a bound is a minimum for metrics where higher is better and a
      maximum for the others (latency, false abstentions); a configuration or metric that was not
      measured fails, and so does a set named there that no report has;
    - `[required] config = [metrics]`: every report must bound these;
    - `[hybrid_floor]`: on every report, hybrid may trail the best of the `against` configurations
      by at most `margin` on each of `metrics`, unless `[hybrid_floor.exempt."set"] metric = "why"`.
    """
    bounds = load_thresholds(thresholds_path)
    rules = {name: bounds.pop(name) for name in RULES}
    names = {report["set"] for report in reports}
    exempt = rules["hybrid_floor"].get("exempt", {})
    run = ", ".join(sorted(names))
    failures = [f'section "{name}" of {thresholds_path} matches no report (sets run: {run})'
                for name in bounds if name not in names]
    failures += [f'hybrid_floor exemption for "{name}" in {thresholds_path} matches no report (sets run: {run})'
                 for name in exempt if name not in names]
    exemptions: list[str] = []
    for report in reports:
        limits = bounds.get(report["set"], {})
        failures += _missing_bounds(report["set"], limits, rules["required"])
        failures += _bound_failures(report, limits)
        floor_failures, used = _hybrid_floor(report, rules["hybrid_floor"], exempt.get(report["set"], {}))
        failures += floor_failures
        exemptions += used
    return failures, exemptions


def _missing_bounds(name: str, limits: dict[str, dict[str, float]], required: dict[str, list[str]]) -> list[str]:
    return [f"{name} {config} has no bound on {metric} (every set must bound it)"
            for config, metrics in required.items() for metric in metrics if metric not in limits.get(config, {})]


def _not_measured(report: dict[str, Any], config: str) -> str:
    """`dense` without a model: the gate needs the model it was set for."""
    return f"{report['set']} {config} was not measured ({report.get('dense', {}).get('reason')})"


def _bound_failures(report: dict[str, Any], limits: dict[str, dict[str, float]]) -> list[str]:
    failures = []
    for config, metric_bounds in limits.items():
        measured = report["metrics"].get(config)
        if measured is None:
            failures.append(_not_measured(report, config))
            continue
        for metric, bound in metric_bounds.items():
            value = measured.get(metric)
            higher = METRICS.get(metric, (metric, True))[1]
            if value is None or math.isnan(value) or (value < bound if higher else value > bound):
                relation = "at least" if higher else "at most"
                failures.append(f"{report['set']} {config} {metric} = {value} (must be {relation} {bound})")
    return failures


def _hybrid_floor(report: dict[str, Any], rule: dict[str, Any], exempt: dict[str, str]) -> tuple[list[str], list[str]]:
    """Hybrid against the best single retriever: (failures, exemptions used)."""
    measured = report["metrics"]
    absent = [config for config in ("hybrid", *rule["against"]) if config not in measured]
    if absent:
        return [_not_measured(report, config) for config in absent], []
    failures, used = [], []
    for metric in rule["metrics"]:
        best = max(rule["against"], key=lambda config: measured[config][metric])
        hybrid, floor = measured["hybrid"][metric], measured[best][metric] - rule["margin"]
        if hybrid >= floor:
            continue
        line = f"{report['set']} hybrid {metric} = {hybrid:.3f} is below {best}'s {measured[best][metric]:.3f} " \
               f"by more than {rule['margin']}"
        if metric in exempt:
            used.append(f"{line}; exempt: {exempt[metric]}")
        else:
            failures.append(line)
    return failures, used
