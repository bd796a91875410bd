"""Shared pytest configuration: the golden-file switch, and lab logs on failing tunnel tests."""

from __future__ import annotations

from collections.abc import Generator

import pytest

from tests.support.netlab import OPEN_LABS, LabError


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden", action="store_true", default=False,
        help="rewrite golden files from the current output instead of comparing",
    )


@pytest.fixture
def update_golden(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-golden"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport,
                                                                      pytest.TestReport]:
    """A failing test with a lab running shows the daemons' logs, whatever assert failed.

    (A :class:`LabError` carries them in its message already.)
    """
    report = yield
    if report.failed and OPEN_LABS and not (call.excinfo and call.excinfo.errisinstance(LabError)):
        for made in OPEN_LABS:
            report.sections.append((f"daemon logs and tunnel state ({made.prefix})",
                                    made.report()))
    return report
