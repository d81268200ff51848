"""The evaluation suite: reference question sets, the metrics, the report and the quality gate
that CI runs against eval/thresholds.toml."""
