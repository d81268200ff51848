"""Evaluation reports: report.json, report.md (tables), PNG plots, and the CI threshold gate."""

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


def check(reports: list[dict[str, Any]], thresholds_path: Path) -> list[str]:
    """Failures against eval/thresholds.toml: `[set.config] metric = bound`; a bound is a minimum
    for metrics where higher is better and a maximum for the others (latency, false abstentions)."""
    bounds = tomllib.loads(thresholds_path.read_text(encoding="utf-8"))
    failures = []
    for report in reports:
        for config, limits in bounds.get(report["set"], {}).items():
            measured = report["metrics"].get(config)
            if measured is None:  # `dense` without a model: the gate needs the model it was set for
                failures.append(f"{report['set']} {config} was not measured ({report.get('dense', {}).get('reason')})")
                continue
            for metric, bound in limits.items():
                value = measured.get(metric)
                higher = METRICS.get(metric, (metric, True))[1]
                if value is None or math.isnan(value) or (value < bound if higher else value > bound):
                    relation = "at least" if higher else "at most"
                    failures.append(f"{report['set']} {config} {metric} = {value} (must be {relation} {bound})")
    return failures
