"""Suite-wide guards: no leaked asyncio tasks, no unexpected warnings or error logs."""

from __future__ import annotations

import logging
import os
import re

import pytest

from tests.tasks import tasks_left_running

# Fixtures shared across folders: `peers` starts real `chorus serve` processes.
pytest_plugins = ("tests.e2e.peers",)

# Widgets are real but drawn offscreen unless a test brings its own display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

WATCHED_LOGGERS = ("editor", "asyncio", "pyrsocket", "zeroconf")  # rsocket-py logs as "pyrsocket"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "allowed_log(*patterns): WARNING+ log records matching any regex are expected by this test",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("asyncio") is not None and isinstance(item, pytest.Function):
            item.fixturenames.append("_no_leaked_tasks")


@pytest.fixture
async def _no_leaked_tasks():
    """Fail a test that leaves asyncio tasks running once it returns (after a short grace)."""
    yield
    leftover = await tasks_left_running()
    if leftover:
        for task in leftover:
            task.cancel()
        pytest.fail(f"test leaked {len(leftover)} task(s): {[repr(t.get_coro()) for t in leftover]}")


class _RecordCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def _fail_on_unexpected_logs(request: pytest.FixtureRequest):
    """Like qutebrowser's logfail: a WARNING+ record a test did not declare fails it."""
    collector = _RecordCollector()
    loggers = [logging.getLogger(name) for name in WATCHED_LOGGERS]
    for logger in loggers:
        logger.addHandler(collector)
    yield collector
    for logger in loggers:
        logger.removeHandler(collector)
    patterns = [re.compile(p) for m in request.node.iter_markers("allowed_log") for p in m.args]
    unexpected = [
        r for r in collector.records
        if not any(p.search(r.getMessage()) for p in patterns)
    ]
    if unexpected:
        lines = "\n".join(f"{r.name} {r.levelname}: {r.getMessage()}" for r in unexpected[:10])
        pytest.fail(f"unexpected log records:\n{lines}", pytrace=False)
