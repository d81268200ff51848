"""Property-based fuzzing of the OpenAPI schema with schemathesis against a running server:
no 5xx, no response or status code that the schema does not describe, no schema-violating
request accepted.

Two checks are left out, for reasons of the API's design, not of convenience:
`positive_data_acceptance` (the API refuses some schema-valid input on meaning: a question of
only symbols, a file that is not a readable document, a span past a document's end; all with
422 and a message) and `allow_header_conformance` (Starlette answers OPTIONS on a path served by
two routes, GET and DELETE, with the first route's methods).

One worker: with two, hypothesis describes lambdas with `ast.parse` in two threads at once, and
CPython before 3.11.8 shares the AST constructor's recursion counter between threads
(python/cpython#106905), so a run fails now and then with "AST constructor recursion depth
mismatch" (CI, stop 30), a fault of neither the API nor the test.
"""

import re
import subprocess
import sys
from pathlib import Path

from conftest import ARTIFACTS, Server


def test_openapi_fuzzing_finds_no_failure(tmp_path):
    server = Server(tmp_path / "data")
    report = ARTIFACTS / "schemathesis"
    report.mkdir(parents=True, exist_ok=True)
    try:
        result = subprocess.run(
            [str(Path(sys.executable).with_name("st")), "run", f"{server.url}/openapi.json", "--checks", "all",
             "--exclude-checks", "positive_data_acceptance,allow_header_conformance",
             "--max-examples", "30", "--seed", "7", "--workers", "1", "--request-timeout", "60",
             "--generation-database", "none", "--no-color", "--report", "junit", "--report-dir", str(report)],
            capture_output=True, text=True, timeout=900, cwd=tmp_path,
        )
    finally:
        server.stop()
    (report / "output.txt").write_text(result.stdout + result.stderr, encoding="utf-8")
    assert result.returncode == 0, result.stdout[-6000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", result.stdout)
    assert counts, result.stdout[-2000:]
    generated, passed = int(counts.group(1)), int(counts.group(2))
    assert generated == passed and generated >= 500
    server_log = server.log_path.read_text(encoding="utf-8")
    assert "Unhandled error" not in server_log
