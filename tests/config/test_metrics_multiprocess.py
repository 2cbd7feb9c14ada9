"""Multiprocess mode (docs/operations.md, "Metrics"): with PROMETHEUS_MULTIPROC_DIR set, every process
writes its metrics to files there and `/metrics` serves their sum, whichever process answers. One
process's counts never hide another's: checked with two real processes and the view, and with gunicorn
running two workers (deploy/gunicorn.conf.py), one of which is then killed."""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from celery.signals import worker_process_shutdown
from django.test import Client, override_settings
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from tests.api.test_chunked_bodies import _database_url
from tests.config import metrics_child

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).with_name("gunicorn")
TOKEN = "multiprocess-token"

pytestmark = pytest.mark.django_db


def value(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return None


def scrape_view() -> str:
    with override_settings(METRICS_TOKEN=TOKEN):
        response = Client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    return response.content.decode()


def test_the_scrape_adds_up_every_process_and_a_dead_ones_live_gauges_go(tmp_path, monkeypatch):
    directory = str(tmp_path)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", directory)
    spawn = multiprocessing.get_context("spawn")
    processes = [spawn.Process(target=metrics_child.record, args=(directory, n)) for n in (3, 4)]
    for process in processes:  # one after the other: the second sets the reconciliation gauge last
        process.start()
        process.join(60)
        assert process.exitcode == 0

    text = scrape_view()

    assert value(text, "billing_usage_ingest_requests_total", status="202") == 7.0
    assert value(text, "billing_rating_lag_seconds_count") == 2.0
    assert value(text, "billing_rating_lag_seconds_sum") == 7.0
    assert value(text, "billing_test_live_workers") == 2.0
    assert value(text, "billing_reconciliation_delta", check="rated_vs_invoiced") == 4.0  # the latest set
    assert value(text, "billing_rating_pending_events") == 0.0  # the scrape-time gauges, once

    # when Celery reports a pool process gone (config.celery), its live gauge goes; its counts stay
    worker_process_shutdown.send(sender=None, pid=processes[0].pid, exitcode=0)
    text = scrape_view()

    assert value(text, "billing_test_live_workers") == 1.0
    assert value(text, "billing_usage_ingest_requests_total", status="202") == 7.0


def test_without_the_directory_the_scrape_serves_this_process_alone(tmp_path, monkeypatch):
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    spawn = multiprocessing.get_context("spawn")
    other = spawn.Process(target=metrics_child.record, args=(str(tmp_path), 5))
    other.start()
    other.join(60)

    assert value(scrape_view(), "billing_test_live_workers") is None


# --- gunicorn, two workers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gunicorn:
    port: int
    log: Path
    directory: Path
    process: subprocess.Popen[bytes]

    def get(self, path: str, token: str | None = None) -> tuple[int, str]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def post(self, path: str) -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=b"{}", method="POST")
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as err:
            return err.code

    def workers(self) -> list[int]:
        booted = [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", self.log.read_text())]
        return [pid for pid in booted if _alive(pid)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def gunicorn(tmp_path: Path) -> Iterator[Gunicorn]:
    directory = tmp_path / "metrics"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": _database_url(),
        "DB_CONN_MAX_AGE": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "METRICS_TOKEN": TOKEN,
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(GUNICORN), "-c", "deploy/gunicorn.conf.py", "-b", "127.0.0.1:0", "-w", "2", "config.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        deadline = time.monotonic() + 90
        port = None
        while time.monotonic() < deadline and process.poll() is None:
            found = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text())
            if found and len(re.findall(r"Booting worker", log.read_text())) >= 2:
                port = int(found.group(1))
                break
            time.sleep(0.1)
        assert port is not None, "gunicorn did not start:\n" + log.read_text()
        server = Gunicorn(port=port, log=log, directory=directory, process=process)
        while server.get("/healthz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def per_process_count(directory: Path, pid: int, tmp: Path) -> float:
    """One worker's own count of refused ingest requests, read from its file alone."""
    alone = tmp / f"alone-{pid}"
    alone.mkdir(parents=True)
    shutil.copy(directory / f"counter_{pid}.db", alone / f"counter_{pid}.db")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(alone))
    return registry.get_sample_value("billing_usage_ingest_requests_total", {"status": "401"}) or 0.0


@pytest.mark.slow
def test_under_gunicorn_every_scrape_shows_the_sum_of_both_workers(gunicorn, tmp_path):
    sent: list[int] = []

    def send(n: int) -> None:
        sent.extend(gunicorn.post("/api/v1/usage") for _ in range(n))

    workers = gunicorn.workers()
    own: dict[int, float] = {}
    for _round in range(5):  # until both workers served some (a cold worker may be slower to accept)
        threads = [threading.Thread(target=send, args=(10,)) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        own = {pid: per_process_count(gunicorn.directory, pid, tmp_path / str(_round)) for pid in workers}
        if all(own.values()):
            break
    requests = len(sent)
    assert sent == [401] * requests
    assert len(workers) == 2
    assert all(count > 0 for count in own.values()), own  # both workers served some
    assert sum(own.values()) == requests

    scrapes = [gunicorn.get("/metrics", token=TOKEN) for _ in range(6)]

    assert {status for status, _text in scrapes} == {200}
    assert {value(text, "billing_usage_ingest_requests_total", status="401") for _s, text in scrapes} == {
        float(requests)
    }
    assert gunicorn.get("/metrics")[0] == 401
    assert gunicorn.get("/metrics", token="wrong")[0] == 403

    # a worker dies (gunicorn's child_exit marks it dead and boots another): its counts still count
    os.kill(workers[0], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while (workers[0] in gunicorn.workers() or len(gunicorn.workers()) < 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(gunicorn.workers()) == 2

    status, text = gunicorn.get("/metrics", token=TOKEN)

    assert status == 200
    assert value(text, "billing_usage_ingest_requests_total", status="401") == float(requests)
