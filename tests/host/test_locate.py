"""ruv_temporal.locate: where the native parts come from, and what a user is
told when one is missing. Nothing is built at run time: with an empty
RUV_BUILD_DIR and no cmake or compiler on PATH the lookup still answers at
once, with an error that names the directory it looked in."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ruv_temporal import device, features, locate, native
from ruv_temporal.errors import NativeBuildError, RuvError


def _fake_part(path: Path, executable: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x7fELF not really")
    if executable:
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_build_dir_wins_and_has_no_fallback(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    bdir = tmp_path / "build"
    monkeypatch.setenv("RUV_BUILD_DIR", str(bdir))
    monkeypatch.delenv("RUV_VDEV", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no cmake, no compiler
    for name in ("ruv_temporal", "ruv_csi"):
        with pytest.raises(NativeBuildError, match=rf"RUV_BUILD_DIR={bdir}"):
            locate.library_path(name)
    with pytest.raises(NativeBuildError, match=r"ruv_vdev not found in RUV_BUILD_DIR"):
        device.find_vdev()
    assert not bdir.exists(), "the lookup must not create or build anything"

    core = _fake_part(bdir / locate.library_filename("ruv_temporal"))
    csi = _fake_part(bdir / locate.library_filename("ruv_csi"))
    vdev = _fake_part(bdir / locate.VDEV_NAME, executable=True)
    assert native.library_path() == core
    assert features._library_path() == csi
    assert device.find_vdev() == vdev


def test_vdev_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RUV_BUILD_DIR", str(tmp_path / "empty"))
    exe = _fake_part(tmp_path / "my_vdev", executable=True)
    monkeypatch.setenv("RUV_VDEV", str(exe))
    assert device.find_vdev() == exe
    monkeypatch.setenv("RUV_VDEV", str(tmp_path / "nope"))
    with pytest.raises(RuvError, match="RUV_VDEV=.*is not a file"):
        device.find_vdev()


def test_installed_parts_are_used_without_build_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without RUV_BUILD_DIR the parts come from ruv_temporal/_native (the
    wheel, or the editable install of a checkout)."""
    monkeypatch.delenv("RUV_BUILD_DIR", raising=False)
    monkeypatch.delenv("RUV_VDEV", raising=False)
    pkg = locate.package_dir()
    if not pkg.is_dir():
        pytest.fail(f"{pkg} missing: this ruv_temporal was installed without its native "
                    f"parts (install it with pip install -e ./host or from the wheel)")
    assert pkg.name == "_native"
    for path in (locate.library_path("ruv_temporal"), locate.library_path("ruv_csi"),
                 locate.vdev_path()):
        assert path.parent == pkg and path.is_file()
    assert locate.vdev_path().stat().st_mode & stat.S_IXUSR


def test_missing_installed_part_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUV_BUILD_DIR", raising=False)
    monkeypatch.delenv("RUV_VDEV", raising=False)
    monkeypatch.setattr(locate, "PACKAGE_DIR", "_no_such_native_dir")
    with pytest.raises(NativeBuildError, match=r"not installed with this ruv_temporal.*"
                                               r"pip install \./host.*RUV_BUILD_DIR"):
        locate.library_path("ruv_temporal")
    with pytest.raises(NativeBuildError, match="ruv_vdev is not installed"):
        device.find_vdev()
