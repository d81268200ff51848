"""Shared fixtures: settings for a temporary data directory, services over the default corpus,
a tiny dense model built from the corpus, and a real `fouassist serve` on a loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from fouassist.config import Settings
from fouassist.service import Service

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "ingest" / "corpus"
MANIFEST = ROOT / "ingest" / "manifest.toml"
ARTIFACTS = ROOT / "test-artifacts"

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


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


class Server:
    """`fouassist serve` in a child process on a loopback port."""

    def __init__(self, data_dir: Path, env: dict[str, str] | None = None, timeout_s: float = 120,
                 wait_for_ui: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"server-{self.port}.log"
        environment = {
            **os.environ, "FOUASSIST_DATA_DIR": str(data_dir), "FOUASSIST_CORPUS_DIR": str(CORPUS),
            "FOUASSIST_MANIFEST": str(MANIFEST), "FOUASSIST_EMBEDDING_MODEL": "", "FOUASSIST_LOG_LEVEL": "INFO",
            "GRADIO_ANALYTICS_ENABLED": "False", **(env or {}),
        }
        self.log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fouassist.cli", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=environment, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                response = httpx.get(f"{self.url}/health", timeout=2)
                if response.status_code == 200 and (not wait_for_ui or response.json().get("ui") != "starting"):
                    return  # the API answers (and the web interface is up, or not installed)
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"server did not start in {timeout_s} s:\n{self.log_path.read_text()}")

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
    """A real server over the default corpus (it ingests it on first start). The load tests ask
    from one address, so asking has no per-client limit here (test_defects checks the limit)."""
    running = Server(tmp_path_factory.mktemp("server") / "data", env={"FOUASSIST_RATE_LIMIT_ASK": ""})
    yield running
    running.stop()


@pytest.fixture(scope="session")
def client(server) -> httpx.Client:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        yield http
