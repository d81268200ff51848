"""Shared fixtures: settings for a temporary data directory, services over the default corpus,
a tiny dense model built from the corpus, and real `fouassist serve` processes on loopback ports:
one lexical-only (the fallback) and one in the shipped configuration (the bundled e5 model, Qdrant
Edge on disk, the web interface).

No test sees the developer's FOUASSIST_* variables or ./fouassist.toml: they are removed from the
environment here, FOUASSIST_CONFIG names an empty file, and child processes get `child_environment()`.
HF_HUB_OFFLINE=1: a networked machine must not measure the hub's weights instead of the bundled ones."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from fouassist.config import Settings
from fouassist.service import Service

T, R = TypeVar("T"), TypeVar("R")
ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "ingest" / "corpus"
MANIFEST = ROOT / "ingest" / "manifest.toml"
ARTIFACTS = ROOT / "test-artifacts"

NO_CONFIG = Path(__file__).with_name("no-config.toml")
PINNED = {"FOUASSIST_CONFIG": str(NO_CONFIG), "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
SHIPPED_MODEL = Settings.model_fields["embedding_model"].default


def child_environment(**values: str) -> dict[str, str]:
    """The environment of a child process: this one without FOUASSIST_* variables, the pinned ones,
    then `values` (FOUASSIST_* names)."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("FOUASSIST_")}
    return {**inherited, **PINNED, **values}


for _name in [name for name in os.environ if name.startswith("FOUASSIST_")]:
    del os.environ[_name]  # in-process Settings read the environment too
os.environ.update(PINNED)


def make_settings(data_dir: Path, **overrides) -> Settings:
    """Settings for tests: their own data directory, the repository's corpus, no model by default."""
    values = {
        "data_dir": data_dir, "corpus_dir": CORPUS, "manifest": MANIFEST, "eval_dir": ROOT / "eval",
        "embedding_model": "", "qdrant_url": "", "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def service(settings: Settings):
    service = Service(settings)
    yield service
    service.close()


@pytest.fixture(scope="session")
def corpus_service(tmp_path_factory):
    """A lexical-only service over the default corpus, ingested once, for read-only tests."""
    service = Service(make_settings(tmp_path_factory.mktemp("corpus") / "data"))
    report = service.ingest_paths([CORPUS])
    assert len(report.added) == 5, report.failed
    yield service
    service.close()


@pytest.fixture(scope="session")
def e5_service(tmp_path_factory):
    """An in-process service with the bundled e5 model over the default corpus, for read-only tests."""
    service = Service(make_settings(tmp_path_factory.mktemp("e5") / "data", embedding_model=SHIPPED_MODEL))
    report = service.ingest_paths([CORPUS])
    assert report.dense and len(report.added) == 5
    yield service
    service.close()


def run_in_threads(work: Callable[[T], R], items: list[T]) -> list[R]:
    """`work(item)` for every item at once, each in a thread of its own; the results in order. The
    first exception a thread raised (a failed assert too) is raised here, so pytest sees it."""
    with ThreadPoolExecutor(max_workers=len(items)) as pool:
        return list(pool.map(work, items))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A small random BERT with a WordPiece vocabulary trained on the corpus, saved as a
    sentence-transformers directory (no download)."""
    from tiny_models import build_tiny_model

    texts = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))]
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-st", texts)


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory) -> Path:
    from tiny_models import build_tiny_cross_encoder

    texts = [p.read_text(encoding="utf-8") for p in sorted(CORPUS.glob("*.txt"))]
    return build_tiny_cross_encoder(tmp_path_factory.mktemp("models") / "tiny-ce", texts)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli_environment(data_dir: Path, values: dict[str, str | None] | None = None) -> dict[str, str]:
    """A child's environment for the default corpus in `data_dir`, lexical-only unless `values` say
    otherwise (None: the variable is not set)."""
    environment = child_environment(**{
        "FOUASSIST_DATA_DIR": str(data_dir), "FOUASSIST_CORPUS_DIR": str(CORPUS), "FOUASSIST_MANIFEST": str(MANIFEST),
        "FOUASSIST_EVAL_DIR": str(ROOT / "eval"), "FOUASSIST_PROMPTS_DIR": str(ROOT / "prompts"),
        "FOUASSIST_EMBEDDING_MODEL": "", "FOUASSIST_LOG_LEVEL": "WARNING", **(values or {})})
    return {name: value for name, value in environment.items() if value is not None}


class Server:
    """`fouassist serve` in a child process on a loopback port, in a working directory of its own
    (beside the data directory) that holds no fouassist.toml."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, timeout_s: float = 120,
                 wait_for_ui: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fouassist.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=cli_environment(data_dir, {"FOUASSIST_LOG_LEVEL": "INFO", **(env or {})}), stdout=self.log,
            stderr=subprocess.STDOUT, cwd=data_dir.parent,
        )
        self.wait_until(lambda health: not wait_for_ui or health.get("ui") != "starting", timeout_s)

    def health(self) -> dict:
        return httpx.get(f"{self.url}/health", timeout=10).json()

    def wait_until(self, ready: Callable[[dict], bool], timeout_s: float = 120) -> dict:
        """Poll /health until `ready(health)`; returns that health."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                response = httpx.get(f"{self.url}/health", timeout=2)
                if response.status_code == 200 and ready(response.json()):
                    return response.json()
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"the server was not ready in {timeout_s} s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A real lexical-only server (the fallback) over the default corpus (it ingests it on first
    start). The load tests ask from one address, so asking has no per-client limit here
    (test_defects checks the limit)."""
    running = Server(tmp_path_factory.mktemp("server") / "data", env={"FOUASSIST_RATE_LIMIT_ASK": ""})
    yield running
    running.stop()


@pytest.fixture(scope="session")
def shipped_server(tmp_path_factory):
    """A real server in the shipped configuration over the default corpus, for the tests that only
    read: first `fouassist ingest` (the bundled e5 model embeds the corpus), then `serve`, whose
    models are held back (a test-only setting) until /health has said `loading`. `dense_states`
    keeps what /health said about dense search from the first answer to the last."""
    root = tmp_path_factory.mktemp("shipped")
    data, hold = root / "data", root / "hold-models"
    shipped = {"FOUASSIST_EMBEDDING_MODEL": SHIPPED_MODEL, "FOUASSIST_LOG_LEVEL": "INFO"}
    ingest = subprocess.run([sys.executable, "-m", "fouassist.cli", "ingest"], env=cli_environment(data, shipped),
                            cwd=root, capture_output=True, text=True, timeout=600)
    assert ingest.returncode == 0 and "dense + lexical" in ingest.stdout, ingest.stderr
    hold.touch()
    running = Server(data, env={**shipped, "FOUASSIST_RATE_LIMIT_ASK": "", "FOUASSIST_TEST_HOLD_MODELS_FILE": str(hold)},
                     wait_for_ui=False)
    running.dense_states = [running.health()["dense"]]
    hold.unlink()
    running.wait_until(lambda health: running.dense_states.append(health["dense"])
                       or (health["dense"]["state"] == "ready" and health["ui"] != "starting"))
    yield running
    running.stop()


def client_of(server_fixture: str):
    """A session fixture: an HTTP client of the server that `server_fixture` starts."""
    @pytest.fixture(scope="session")
    def client(request) -> httpx.Client:
        with httpx.Client(base_url=request.getfixturevalue(server_fixture).url, timeout=60) as http:
            yield http
    return client


client = client_of("server")
shipped = client_of("shipped_server")
