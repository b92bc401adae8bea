"""Shared fixtures of the C-core parity suite (tests/parity).

The C core comes from ``ruv_temporal.native`` (``ruv_temporal.locate``:
``$RUV_BUILD_DIR`` when set, as tools/run_tests.sh does, else the library
installed with the package). With ``RUV_SANITIZED=1`` (the ASan+UBSan
run of tools/run_tests.sh) the suite uses smaller sizes and frame counts
where that matters for the run time; the checks and tolerances stay the same.

At the end of a run the largest difference seen per test family is printed
(``parity max |diff|`` section of the terminal summary).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

SANITIZED = os.environ.get("RUV_SANITIZED", "") not in ("", "0")

_MAX_DIFF: dict[str, float] = {}


def sized(normal: int, sanitized: int) -> int:
    """``normal``, or ``sanitized`` when RUV_SANITIZED is set."""
    return sanitized if SANITIZED else normal


def record(family: str, value: float) -> None:
    """Remember the largest difference seen in a test family (for the summary)."""
    v = float(value)
    if not np.isfinite(v):
        v = float("inf")
    _MAX_DIFF[family] = max(_MAX_DIFF.get(family, 0.0), v)


def max_abs_report(got: Any, ref: Any, tol: float, what: str,
                   axes: Sequence[str] = ("row", "head", "dim")) -> tuple[float, str | None]:
    """(max abs diff, failure message or None). The message names the worst
    element's index along ``axes`` (for the leading dimensions), both values
    and how many elements exceed ``tol``."""
    g = np.asarray(got, dtype=np.float64)
    r = np.asarray(ref, dtype=np.float64)
    if g.shape != r.shape:
        return float("inf"), f"{what}: shape {g.shape} (C) != {r.shape} (NumPy)"
    if g.size == 0:
        return 0.0, None
    nan_g, nan_r = np.isnan(g), np.isnan(r)
    if np.any(nan_g != nan_r):
        idx = np.unravel_index(int(np.argmax(nan_g != nan_r)), g.shape)
        return float("inf"), (f"{what}: NaN mismatch at {_where(idx, axes)}: C {g[idx]!r} vs "
                              f"NumPy {r[idx]!r}")
    with np.errstate(invalid="ignore"):
        diff = np.where(nan_g, 0.0, np.abs(g - r))
    diff = np.where(np.isinf(g) & np.isinf(r) & (g == r), 0.0, diff)
    worst = float(np.max(diff))
    if worst <= tol:
        return worst, None
    idx = np.unravel_index(int(np.argmax(diff)), g.shape)
    n_bad = int(np.count_nonzero(diff > tol))
    return worst, (f"{what}: max |C - NumPy| = {worst:.3g} > {tol:g} at {_where(idx, axes)} "
                   f"(C {g[idx]:.9g}, NumPy {r[idx]:.9g}; {n_bad} of {g.size} elements "
                   f"over tolerance)")


def _where(idx: tuple[int, ...], axes: Sequence[str]) -> str:
    parts = []
    for j, i in enumerate(idx):
        name = axes[j] if j < len(axes) else f"axis{j}"
        parts.append(f"{name} {int(i)}")
    return ", ".join(parts) if parts else "scalar"


def assert_close(got: Any, ref: Any, tol: float, what: str, family: str | None = None,
                 axes: Sequence[str] = ("row", "head", "dim")) -> float:
    """Fail with a located message when max |got - ref| > tol; returns the max."""
    worst, msg = max_abs_report(got, ref, tol, what, axes)
    if family is not None:
        record(family, worst)
    if msg is not None:
        pytest.fail(msg, pytrace=False)
    return worst


def assert_argmax(c_logits: Any, ref_logits: Any, tol: float, what: str) -> None:
    """Identical argmax; where the reference's top two logits are within
    ``2·tol`` (a genuine near-tie, resolvable either way within the
    tolerance) the C argmax must be one of the tied classes."""
    c = np.asarray(c_logits, np.float64)
    r = np.asarray(ref_logits, np.float64)
    if c.ndim == 1:
        c, r = c[None], r[None]
    ca, ra = c.argmax(axis=1), r.argmax(axis=1)
    for t in np.nonzero(ca != ra)[0]:
        top = r[t, ra[t]]
        if top - r[t, ca[t]] <= 2 * tol:
            continue  # near-tie
        pytest.fail(f"{what}: argmax differs at row {int(t)}: C {int(ca[t])} vs NumPy "
                    f"{int(ra[t])} (C logits {c[t].tolist()}, NumPy {r[t].tolist()})",
                    pytrace=False)


class _Helpers:
    sized = staticmethod(sized)
    record = staticmethod(record)
    assert_close = staticmethod(assert_close)
    assert_argmax = staticmethod(assert_argmax)
    max_abs_report = staticmethod(max_abs_report)
    SANITIZED = SANITIZED


@pytest.fixture(scope="session")
def native_lib() -> Any:
    """The loaded C core (builds it if needed; NativeBuildError says why not)."""
    from ruv_temporal import native

    return native.load()


@pytest.fixture(scope="session")
def px() -> type[_Helpers]:
    """Parity helpers: ``px.assert_close``, ``px.assert_argmax``, ``px.sized``,
    ``px.record``, ``px.SANITIZED``."""
    return _Helpers


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _MAX_DIFF:
        return
    terminalreporter.section("parity max |diff| (C core vs NumPy reference)")
    width = max(len(k) for k in _MAX_DIFF)
    for family in sorted(_MAX_DIFF):
        terminalreporter.write_line(f"{family:<{width}}  {_MAX_DIFF[family]:.3e}")
    if SANITIZED:
        terminalreporter.write_line("(RUV_SANITIZED=1: reduced sizes)")
