"""Property-based fuzzing of every API operation with schemathesis, against a real server.

The schema is the one the running server publishes at /openapi.json. Every operation in it gets
generated requests, valid (positive) and invalid (negative): its examples, boundary values
(coverage phase) and random fuzzing. Every response must:

- not be a server error (no 5xx, ever),
- have a status code the schema declares for that operation (errors included),
- have a declared content type, and
- match the schema declared for that status (errors are `{"error": {"code", "message"}}`).

Schemathesis runs as its own CLI (`python -m schemathesis.cli run`) in a subprocess: its pytest
integration (`schemathesis.pytest.from_fixture`) fails under pytest 9.2 (it sets
`node._nodeid`, which pytest 9.2 no longer has), and the CLI runs every phase exactly as a
person would. Each request and response is counted from its HAR report.

A second run fuzzes a server with RAG_API_KEY set, with the key, and adds schemathesis's
ignored_auth check (requests without the key or with a wrong one must be refused); a third, a
server without an index, where every operation but /health answers a declared 503.

Budget: about 300 generated requests for the main run by default (under a minute); with
RAG_FULL_TESTS=1 at least 1,000. RAG_FUZZ_SEED picks another seed (the default is fixed so CI is reproducible).
Totals per operation and status go to test-artifacts/fuzz-*.json.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, Server

pytestmark = pytest.mark.slow  # real model, index, server or browser (not in make test-fast)

FULL = os.environ.get("RAG_FULL_TESTS") == "1"
SEED = int(os.environ.get("RAG_FUZZ_SEED", "20251122"))
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_schema_conformance"]
OPERATIONS = {"POST /ask", "POST /search", "POST /chat", "GET /documents", "GET /documents/{doc_id}",
              "GET /health", "POST /documents", "DELETE /documents/{doc_id}", "POST /v1/chat/completions",
              "GET /v1/models"}


def fuzz(url: str, workdir: Path, max_examples: int, checks: list[str] = CHECKS, seed: int = SEED,
         extra: tuple[str, ...] = ()) -> dict:
    """Run schemathesis against `url`; the parsed reports, the output and the request tally."""
    workdir.mkdir(parents=True, exist_ok=True)
    har, report = workdir / "requests.har.json", workdir / "run.json"
    command = [sys.executable, "-m", "schemathesis.cli", "run", f"{url}/openapi.json",
               "--checks", ",".join(checks), "--phases", "examples,coverage,fuzzing", "--mode", "all",
               "--max-examples", str(max_examples), "--seed", str(seed), "--workers", "1",
               "--request-timeout", "60", "--generation-database", "none", "--no-color",
               "--report", "har,json", "--report-har-path", str(har), "--report-json-path", str(report), *extra]
    # its own folder as cwd: schemathesis and hypothesis leave cache folders there
    done = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=900, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    output = done.stdout + done.stderr
    assert har.exists() and report.exists(), f"schemathesis did not run:\n{output[-4000:]}"
    entries = json.loads(har.read_text())["log"]["entries"]
    statuses = collections.Counter(e["response"]["status"] for e in entries)
    server_errors = [f"{e['request']['method']} {e['request']['url']} -> {e['response']['status']}"
                     for e in entries if e["response"]["status"] >= 500]
    return {"returncode": done.returncode, "output": output, "run": json.loads(report.read_text()),
            "requests": len(entries), "statuses": statuses, "server_errors": server_errors}


def summary(result: dict, max_examples: int) -> dict:
    run = result["run"]
    return {"full": FULL, "seed": SEED, "max_examples": max_examples, "requests": result["requests"],
            "responses_5xx": len(result["server_errors"]),
            "by_status": {str(k): v for k, v in sorted(result["statuses"].items())},
            "test_cases": run["test_cases"], "operations": run["operations"],
            "failures": run["failures"], "errors": run["errors"], "seconds": round(run["running_time"], 1)}


def assert_clean(result: dict, allowed_5xx: set[int] = frozenset()) -> None:
    run = result["run"]
    assert result["returncode"] == 0 and not run["failures"] and not run["errors"], result["output"][-6000:]
    assert not [e for e in result["server_errors"] if int(e.rsplit(" ", 1)[1]) not in allowed_5xx], \
        result["server_errors"][:20]
    assert run["operations"]["tested"] == run["operations"]["selected"] == len(OPERATIONS), run["operations"]


@pytest.fixture(scope="module")
def fuzz_server(seeds_index, start_server) -> Server:
    # no reloads: the fuzzer should meet one stable index
    return start_server(seeds_index.index_dir, env={"RAG_API__RELOAD_INTERVAL_S": "0"})


def test_fuzzing_every_operation_finds_no_5xx_and_no_undeclared_response(fuzz_server, tmp_path, artifacts):
    max_examples = 300 if FULL else 20
    result = fuzz(fuzz_server.url, tmp_path / "fuzz", max_examples)
    report = summary(result, max_examples)
    (artifacts / "fuzz-seeds.json").write_text(json.dumps(report, indent=2))
    assert_clean(result)
    assert result["requests"] >= (1000 if FULL else 200), report
    # both valid and invalid input reached the server: answers and declared 4xx errors
    assert result["statuses"][200] > 0 and result["statuses"][422] > 0, report
    assert "Traceback" not in fuzz_server.log(), fuzz_server.log()[-3000:]


def test_fuzzing_a_server_without_an_index_gets_only_declared_errors(tmp_path, start_server, artifacts):
    """Every route but /health answers 503 (or 422 for bad input) here: all declared, all JSON.
    503 is the one 5xx expected, so not_a_server_error is left out of this run."""
    server = start_server(tmp_path / "no-index", env={"RAG_API__RELOAD_INTERVAL_S": "0"},
                          wait_for_index=False)
    max_examples = 20 if FULL else 5
    result = fuzz(server.url, tmp_path / "fuzz", max_examples, checks=CHECKS[1:])
    (artifacts / "fuzz-no-index.json").write_text(json.dumps(summary(result, max_examples), indent=2))
    assert_clean(result, allowed_5xx={503})
    assert result["statuses"][503] > 0, result["statuses"]


def test_fuzzing_a_keyed_server_finds_auth_enforced(seeds_index, tmp_path, start_server, artifacts):
    """With RAG_API_KEY the schema requires the bearer scheme; schemathesis sends the key, and its
    ignored_auth check also sends requests without it and with a wrong one: all must be 401."""
    key = "fuzz-key-for-tests"
    server = start_server(seeds_index.index_dir, env={"RAG_API_KEY": key, "RAG_API__RELOAD_INTERVAL_S": "0"})
    max_examples = 40 if FULL else 5
    result = fuzz(server.url, tmp_path / "fuzz", max_examples, checks=[*CHECKS, "ignored_auth"],
                  extra=("--header", f"Authorization: Bearer {key}"))
    (artifacts / "fuzz-keyed.json").write_text(json.dumps(summary(result, max_examples), indent=2))
    assert_clean(result)
    assert result["statuses"][200] > 0 and result["statuses"][401] > 0, result["statuses"]
