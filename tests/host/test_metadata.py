"""Package metadata that must stay true.

One version for the package and the firmware: the build backend takes it
from the C core's RUV_TEMPORAL_VERSION_* macros (host/pyproject.toml); the
app's RUV_APP_VERSION string and the installed package must say the same.
One license, the repository's MIT LICENSE."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import ruv_temporal

REPO = Path(__file__).resolve().parents[2]
CORE_H = REPO / "firmware/components/ruv_temporal/include/ruv_temporal.h"
APP_H = REPO / "firmware/components/ruv_app/include/ruv_app.h"


def _core_version() -> str:
    text = CORE_H.read_text()
    parts = []
    for field in ("MAJOR", "MINOR", "PATCH"):
        m = re.search(rf"^#define RUV_TEMPORAL_VERSION_{field} (\d+)\s*$", text, re.MULTILINE)
        assert m, f"RUV_TEMPORAL_VERSION_{field} not found in {CORE_H}"
        parts.append(m.group(1))
    return ".".join(parts)


def test_app_version_matches_core() -> None:
    m = re.search(r'^#define RUV_APP_VERSION "([^"]+)"', APP_H.read_text(), re.MULTILINE)
    assert m, f"RUV_APP_VERSION not found in {APP_H}"
    assert m.group(1) == _core_version()


def test_package_version_matches_core() -> None:
    core = _core_version()
    assert metadata.version("ruv-temporal") == core
    assert ruv_temporal.__version__ == core


def test_package_license_is_the_repository_license() -> None:
    """host/LICENSE (what the wheel and an sdist of host/ carry; PEP 639
    license files cannot point outside the project) is a copy of the
    repository's LICENSE."""
    assert (REPO / "host" / "LICENSE").read_bytes() == (REPO / "LICENSE").read_bytes()
    assert not (REPO / "host" / "LICENSE").is_symlink()
