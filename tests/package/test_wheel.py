"""The wheel a user installs, used the way a user would.

Built from this checkout with pip (scikit-build-core compiles the native
parts from firmware/), installed into a fresh venv in a temporary directory,
and run from another directory with no RUV_BUILD_DIR: the package must find
libruv_temporal, libruv_csi and ruv_vdev inside itself, ``ruv-temporal hil
--vdev`` (the device-versus-reference check of the product) must agree, and
the HIL suite must pass against the installed ruv_vdev.

Last, the main job: the train extra goes into the same venv (torch 2.13.0,
the CPU build the project is tested with, as tools/setup.sh installs it) and
``ruv-temporal demo --quick`` trains, provisions the installed virtual device
and checks it against the reference, from the other directory.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE_H = REPO / "firmware/components/ruv_temporal/include/ruv_temporal.h"
NATIVE = ("ruv_temporal/_native/libruv_temporal.so", "ruv_temporal/_native/libruv_csi.so",
          "ruv_temporal/_native/ruv_vdev")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="linux wheel layout"),
]

# Every variable that could point the installed package back at the checkout.
_LEAKS = ("RUV_BUILD_DIR", "RUV_VDEV", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV",
          "LD_PRELOAD", "LD_LIBRARY_PATH")


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in _LEAKS}


def _run(cmd: list[str | Path], cwd: Path, timeout: float = 900,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    t0 = time.monotonic()
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env or _clean_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)
    took = time.monotonic() - t0
    print(f"[{took:6.1f} s] {' '.join(str(c) for c in cmd)[:160]}")
    assert proc.returncode == 0, (
        f"{cmd} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc


def _core_version() -> str:
    text = CORE_H.read_text()
    return ".".join(re.search(rf"#define RUV_TEMPORAL_VERSION_{f} (\d+)", text).group(1)
                    for f in ("MAJOR", "MINOR", "PATCH"))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, REPO / "host"],
         cwd=out)
    wheels = sorted(out.glob("ruv_temporal-*.whl"))
    assert len(wheels) == 1, wheels
    print(f"wheel {wheels[0].name}: {wheels[0].stat().st_size} bytes")
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("venv")
    assert REPO not in root.parents
    _run([sys.executable, "-m", "venv", root / "v"], cwd=root)
    py = root / "v" / "bin" / "python"
    _run([py, "-m", "pip", "install", "-q", "--no-compile",
          "--disable-pip-version-check", f"{wheel}[dev]"], cwd=root)
    yield root / "v"


@pytest.fixture()
def elsewhere(tmp_path: Path) -> Path:
    """A working directory outside the checkout and the venv."""
    d = tmp_path / "work"
    d.mkdir()
    return d


def test_wheel_contents(wheel: Path) -> None:
    version = _core_version()
    assert wheel.name.startswith(f"ruv_temporal-{version}-py3-none-"), wheel.name
    with zipfile.ZipFile(wheel) as z:
        infos = {i.filename: i for i in z.infolist()}
        dist_info = f"ruv_temporal-{version}.dist-info"
        for name in NATIVE:
            assert name in infos, f"{name} missing from the wheel"
            assert infos[name].file_size > 0
        assert (infos["ruv_temporal/_native/ruv_vdev"].external_attr >> 16) & stat.S_IXUSR
        sources = {f"ruv_temporal/{p.relative_to(REPO / 'host/src/ruv_temporal').as_posix()}"
                   for p in (REPO / "host/src/ruv_temporal").rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts}
        assert sources <= set(infos), sorted(sources - set(infos))
        assert not [n for n in infos if n.startswith(("tests/", "firmware/"))]
        assert z.read(f"{dist_info}/licenses/LICENSE") == (REPO / "LICENSE").read_bytes()
        meta = z.read(f"{dist_info}/METADATA").decode()
        wheel_tags = z.read(f"{dist_info}/WHEEL").decode()
    assert f"\nVersion: {version}\n" in meta
    assert "\nLicense-Expression: MIT\n" in meta
    requires = re.findall(r"^Requires-Dist: ([^;\n]+)", meta, re.MULTILINE)
    assert len(requires) > 6, requires
    assert not [r for r in requires if "==" in r], f"exact pins: {requires}"
    assert re.search(r"^Tag: py3-none-linux_\w+$", wheel_tags, re.MULTILINE), wheel_tags


def test_installed_package_finds_its_native_parts(venv: Path, elsewhere: Path) -> None:
    probe = (
        "import json, ruv_temporal\n"
        "from ruv_temporal import features, locate, native\n"
        "print(json.dumps({'file': ruv_temporal.__file__, 'version': ruv_temporal.__version__,\n"
        "  'core': str(native.library_path()), 'csi': str(features._library_path()),\n"
        "  'vdev': str(locate.vdev_path()), 'self_test': native.self_test(),\n"
        "  'csi_loaded': features._native_library() is not None}))\n")
    out = _run([venv / "bin" / "python", "-c", probe], cwd=elsewhere).stdout
    got = json.loads(out.strip().splitlines()[-1])
    site = next((venv / "lib").glob("python3*/site-packages")).resolve()
    for key in ("file", "core", "csi", "vdev"):
        path = Path(got[key]).resolve()
        assert site in path.parents, f"{key}: {path} is not inside the installed package"
        assert REPO not in path.parents
    assert got["version"] == _core_version()
    assert got["self_test"] == 0
    assert got["csi_loaded"] is True
    version = _run([venv / "bin" / "ruv-temporal", "--version"], cwd=elsewhere).stdout
    assert _core_version() in version


def test_installed_cli_device_agrees_with_reference(venv: Path, elsewhere: Path) -> None:
    """The product's main check, from the installed console script: stream
    frames to the installed virtual device, compare every classification
    with the NumPy reference (exit 0 only on agreement)."""
    res = _run([venv / "bin" / "ruv-temporal", "hil", "--vdev", "--frames", "2000"],
               cwd=elsewhere)
    assert "max" in res.stdout.lower(), res.stdout


def test_hil_suite_against_installed_vdev(venv: Path, elsewhere: Path) -> None:
    """The HIL suite of this checkout, run by the installed package's Python
    from another directory: its default target is the installed ruv_vdev."""
    res = _run([venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "--rootdir", REPO, REPO / "tests" / "hil",
                "--hil-frames", "2000", "--hil-soak-frames", "20000"], cwd=elsewhere)
    assert re.search(r"\b\d+ passed\b", res.stdout), res.stdout[-2000:]


def test_installed_demo_quick(venv: Path, wheel: Path, elsewhere: Path) -> None:
    """``pip install <wheel>[train]`` then the main job, as a user runs it
    (last in this module: it adds torch to the shared venv)."""
    _run([venv / "bin" / "python", "-m", "pip", "install", "-q", "--no-compile",
          "--disable-pip-version-check", "torch==2.13.0", f"{wheel}[train]"],
         cwd=elsewhere, timeout=1800)
    out = elsewhere / "run"
    res = _run([venv / "bin" / "ruv-temporal", "demo", "--quick", "--no-live", "--out", out],
               cwd=elsewhere, timeout=1800)
    assert (out / "model" / "model.rvne").is_file()
    assert "argmax agreement" in res.stdout, res.stdout[-2000:]
