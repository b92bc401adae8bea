"""Where the package's native parts are: the C core ``libruv_temporal``, the
CSI front end ``libruv_csi`` (both loaded with ctypes) and the virtual device
``ruv_vdev``.

They are built once, by the package's build backend (scikit-build-core runs
``host/CMakeLists.txt`` over ``firmware/host``), and installed inside the
package as ``ruv_temporal/_native/``; this module finds them there through
:mod:`importlib.resources`. Nothing is built at import or run time.

Lookup order:

1. ``$RUV_BUILD_DIR``: a CMake build directory of ``firmware/host`` (``make
   native`` gives ``.build/host``; ``tools/run_tests.sh`` points it at its
   Release build and at the ASan+UBSan build ``.build/asan``). Used when set,
   with no fallback, so a test run never silently mixes builds.
2. ``ruv_temporal/_native/`` of the installed package (a wheel, ``pip install
   ./host``, or the editable ``pip install -e ./host``).

``$RUV_VDEV`` names a ``ruv_vdev`` executable directly (overrides both).
A missing part raises :class:`~ruv_temporal.errors.NativeBuildError` saying
where it looked and how to get it.
"""

from __future__ import annotations

import os
import sys
from importlib import resources
from pathlib import Path

from ruv_temporal.errors import NativeBuildError

BUILD_DIR_ENV = "RUV_BUILD_DIR"
VDEV_ENV = "RUV_VDEV"
PACKAGE_DIR = "_native"
"""Directory of the native parts inside the installed package."""

VDEV_NAME = "ruv_vdev.exe" if sys.platform == "win32" else "ruv_vdev"


def library_filename(name: str) -> str:
    """``lib<name>.so`` (``.dylib`` on macOS, ``<name>.dll`` on Windows)."""
    if sys.platform == "darwin":
        return f"lib{name}.dylib"
    if sys.platform == "win32":
        return f"{name}.dll"
    return f"lib{name}.so"


def build_dir() -> Path | None:
    """``$RUV_BUILD_DIR`` as a path, or None when unset."""
    env = os.environ.get(BUILD_DIR_ENV)
    return Path(env) if env else None


def package_dir() -> Path:
    """``ruv_temporal/_native`` of the imported package (it may not exist:
    a package installed without its native parts, e.g. a bare source tree on
    ``PYTHONPATH``)."""
    node = resources.files("ruv_temporal").joinpath(PACKAGE_DIR)
    # Installed packages are plain directories; editable installs may give a
    # multiplexed path over the source tree and the install tree.
    return Path(str(node))


def native_file(filename: str) -> Path:
    """Path of one native part, by file name (see the module docstring)."""
    bdir = build_dir()
    if bdir is not None:
        path = bdir / filename
        if not path.is_file():
            raise NativeBuildError(
                f"{filename} not found in {BUILD_DIR_ENV}={bdir}: build it "
                f"(cmake -S firmware/host -B {bdir} && cmake --build {bdir}), "
                f"or unset {BUILD_DIR_ENV} to use the copy installed with the package")
        return path
    node = resources.files("ruv_temporal").joinpath(PACKAGE_DIR).joinpath(filename)
    if node.is_file():
        return Path(str(node))
    raise NativeBuildError(
        f"{filename} is not installed with this ruv_temporal (looked in "
        f"{package_dir()}): install the package from its wheel or with "
        f"`pip install ./host` (`pip install -e ./host` in a checkout), or set "
        f"{BUILD_DIR_ENV} to a CMake build directory of firmware/host")


def library_path(name: str = "ruv_temporal") -> Path:
    """Path of the shared library ``lib<name>`` (``ruv_temporal``, ``ruv_csi``)."""
    return native_file(library_filename(name))


def vdev_path() -> Path:
    """Path of the ``ruv_vdev`` executable (``$RUV_VDEV`` overrides)."""
    override = os.environ.get(VDEV_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise NativeBuildError(f"{VDEV_ENV}={override} is not a file")
        return path
    return native_file(VDEV_NAME)
