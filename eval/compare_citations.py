"""Which answerable questions gained or lost a correct citation between two evaluation reports.

    python eval/compare_citations.py BEFORE/report.json AFTER/report.json [--config hybrid] [--set default]

Both files are `fouassist eval --out DIR` reports. Questions are matched by id and text; only the
answerable ones that both reports hold are compared. Prints the counts and the questions lost.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def cited_correctly(question: dict, config: str) -> bool:
    result = question["results"].get(config) or {}
    return any(citation.get("correct") for citation in result.get("citations", []))


def questions(report: Path, set_prefix: str) -> dict[str, dict]:
    sets = [s for s in json.loads(report.read_text(encoding="utf-8")) if s["set"].startswith(set_prefix)]
    return {q["id"]: q for s in sets for q in s["questions"] if q["answerable"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--config", default="hybrid", help="bm25-plain, dense, lexical or hybrid")
    parser.add_argument("--set", default="default", help="the report set's name or its prefix")
    args = parser.parse_args()
    before, after = questions(args.before, args.set), questions(args.after, args.set)
    common = [i for i in after if i in before and before[i]["question"] == after[i]["question"]]
    kept = [i for i in common if cited_correctly(before[i], args.config) and cited_correctly(after[i], args.config)]
    lost = [i for i in common if cited_correctly(before[i], args.config) and not cited_correctly(after[i], args.config)]
    gained = [i for i in common if cited_correctly(after[i], args.config) and not cited_correctly(before[i], args.config)]
    print(f"{len(common)} answerable questions in both: {len(kept)} kept a correct citation, "
          f"{len(gained)} gained one, {len(lost)} lost it")
    for i in lost:
        print(f"  lost {i}: {after[i]['question']}")


if __name__ == "__main__":
    main()
