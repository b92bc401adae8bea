"""HIL suite fixtures (docs/hil.md).

Targets, in this order of precedence:

* ``--port PORT`` (pytest-embedded's own option): a real ESP32-S3 running
  this firmware with the console frame source, or any pty;
* ``--hil-exec "CMD ..."``: a program whose stdin/stdout is the console (the
  ESP-IDF linux-target ELF), served on a pty through a bridge;
* ``--hil-qemu IMAGE``: the esp32s3 firmware in Espressif's QEMU
  (``qemu-system-xtensa -M esp32s3``) booted from a copy of the flash image
  IMAGE (``ruv-temporal qemu image``), console UART0 on a pty (docs/qemu.md);
* default: the virtual device ``ruv_vdev --pty`` (``find_vdev``; built when
  missing), started once per session with a seeded model in file-backed
  slots. Its pty path is handed to pytest-embedded as the ``port``, so the
  ``dut`` fixture is pytest-embedded's serial DUT on the very same serial
  path a board uses.

The ``dut`` object is pytest-embedded's (``dut.write``, ``dut.expect``);
``device`` is a :class:`ruv_temporal.device.DeviceClient` on top of it.
Tests that need to start it with other options (``--consume-delay-us``,
``--feature-set``) or read its /proc figures ask for ``vdev_factory`` and
are skipped on a port, an ELF or QEMU. The power cut (kill mid-upload, boot
again from the same flash) runs on the virtual device and in QEMU
(``power_cycler``).

Options (also as environment variables, for a run from the repository root
where this conftest's options are not registered): ``--hil-frames``
(RUV_HIL_FRAMES, 5000), ``--hil-classify-every`` (RUV_HIL_CLASSIFY_EVERY, 50),
``--hil-soak-frames`` (RUV_HIL_SOAK_FRAMES, 100000), ``--hil-window-len``
(RUV_HIL_WINDOW_LEN, 64: the vdev's N), ``--hil-seed`` (RUV_HIL_SEED, 1),
``--hil-exact`` / ``--no-hil-exact`` (RUV_HIL_EXACT=1/0): compare with the
host build of the C core bit for bit too (``hil.compare(exact=True)``); on by
default for the local targets (the virtual device runs that very C; the
ESP-IDF linux-target ELF the same C built by ESP-IDF at -O2), off on a
``--port`` unless asked for.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ruv_temporal import hil
from ruv_temporal.device import DeviceClient
from ruv_temporal.errors import RuvError

_DEFAULTS = {
    "hil_frames": ("RUV_HIL_FRAMES", 5000),
    "hil_classify_every": ("RUV_HIL_CLASSIFY_EVERY", 50),
    "hil_soak_frames": ("RUV_HIL_SOAK_FRAMES", 100_000),
    "hil_window_len": ("RUV_HIL_WINDOW_LEN", 64),
    "hil_seed": ("RUV_HIL_SEED", 1),
}


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("ruv-hil", "ruv temporal head HIL suite (docs/hil.md)")
    g.addoption("--hil-qemu", default=None, metavar="IMAGE",
                help="flash image of the esp32s3 console build: run the suite on it in QEMU "
                     "(env RUV_HIL_QEMU)")
    g.addoption("--hil-exec", default=None,
                help="command whose stdin/stdout is the device console (e.g. the ESP-IDF "
                     "linux-target ELF), served on a pty; env vars as VAR=value prefixes")
    for name, (env, default) in _DEFAULTS.items():
        g.addoption("--" + name.replace("_", "-"), type=int, default=None,
                    help=f"default {default} (env {env})")
    g.addoption("--hil-exact", action="store_true", default=None,
                help="also compare logits and layer states with the host build of the C core "
                     "bit for bit (env RUV_HIL_EXACT=1; default: on for the virtual device and "
                     "--hil-exec, off for --port)")
    g.addoption("--no-hil-exact", dest="hil_exact", action="store_false",
                help="tolerance comparison only, also on the virtual device (RUV_HIL_EXACT=0)")
    try:  # pytest-embedded normally provides --port; never clash with it
        parser.addoption("--port", default=None, help="serial port of the device under test")
    except ValueError:
        pass


def hil_option(config: pytest.Config, name: str) -> int:
    env, default = _DEFAULTS[name]
    v = config.getoption(name, default=None)
    if v is None:
        v = os.environ.get(env)
    return int(v) if v not in (None, "") else int(default)


@dataclass
class Target:
    kind: str                      # "vdev", "exec", "qemu" or "port"
    port: str
    proc: Any                      # local process (hil.VdevProcess / qemu.QemuProcess) or None
    blob: bytes                    # the seeded model the suite starts from
    slots_dir: Path | None
    window_len: int
    image: Path | None = None      # qemu: the pristine flash image given

    @property
    def is_vdev(self) -> bool:
        return self.kind == "vdev"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None


def seeded_blob(seed: int, dim: int = 16, n_classes: int = 4, **kw: Any) -> bytes:
    return hil.seeded_model(seed, dim, n_classes, **kw)


@pytest.fixture(scope="session")
def hil_seed(pytestconfig: pytest.Config) -> int:
    return hil_option(pytestconfig, "hil_seed")


@pytest.fixture(scope="session")
def hil_target(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory,
               hil_seed: int) -> Iterator[Target]:
    port = pytestconfig.getoption("port", default=None)
    exec_cmd = pytestconfig.getoption("hil_exec", default=None)
    blob = seeded_blob(hil_seed)
    if port:
        yield Target("port", port, None, blob, None, 0)
        return
    qemu_image = pytestconfig.getoption("hil_qemu", default=None) or os.environ.get("RUV_HIL_QEMU")
    if qemu_image:
        from ruv_temporal import qemu

        work = tmp_path_factory.mktemp("hil-qemu") / "flash.bin"
        shutil.copyfile(qemu_image, work)
        qproc = qemu.QemuProcess(work)
        yield Target("qemu", qproc.port, qproc, blob, None, 0, Path(qemu_image))
        qproc.close()
        return
    if exec_cmd:
        words = shlex.split(exec_cmd)
        env = {}
        while words and "=" in words[0] and not words[0].startswith(("/", ".")):
            k, v = words.pop(0).split("=", 1)
            env[k] = v
        proc = hil.VdevProcess(command=words, env=env)
        yield Target("exec", proc.port, proc, blob, None, 0)
        proc.close()
        return
    base = tmp_path_factory.mktemp("hil-vdev")
    model = base / "seeded.rvne"
    model.write_bytes(blob)
    n = hil_option(pytestconfig, "hil_window_len")
    try:
        proc = hil.VdevProcess("--slots", str(base / "slots"), "--model", str(model),
                               "--window-len", str(n), "--feature-set", "1")
    except RuvError as e:  # the C core has not landed / does not build
        pytest.skip(f"virtual device unavailable: {e}")
    yield Target("vdev", proc.port, proc, blob, base / "slots", n)
    proc.close()


# ---- pytest-embedded wiring ----------------------------------------------------------


@pytest.fixture
def embedded_services(request: pytest.FixtureRequest) -> str:
    """pytest-embedded services: the serial DUT unless the user chose others
    (``--embedded-services esp`` gives a board reset on top)."""
    return request.config.getoption("embedded_services", default=None) or "serial"


@pytest.fixture
def port(request: pytest.FixtureRequest) -> str | None:
    """pytest-embedded's port: ``--port`` when given, else the pty of the
    virtual device (or of the --hil-exec bridge). Only resolved for tests
    that use the dut."""
    given = request.config.getoption("port", default=None)
    if given:
        return given
    if "dut" not in request.fixturenames:
        return None
    return request.getfixturevalue("hil_target").port


@pytest.fixture
def device(dut: Any, hil_target: Target) -> DeviceClient:
    """DeviceClient over the pytest-embedded dut, synchronised, running the
    suite's seeded model (uploaded once if a board runs something else)."""
    client = DeviceClient(hil.DutTransport(dut), timeout=15.0)
    hil.sync(client, attempts=120 if hil_target.kind == "qemu" else 20)
    ensure_model(client, hil_target.blob)
    return client


def ensure_model(client: DeviceClient, blob: bytes) -> None:
    from ruv_temporal import provision

    if client.info().get("model") != provision.model_id(blob):
        client.load_blob(blob, chunk_size=1984)


@pytest.fixture
def hil_frames(pytestconfig: pytest.Config) -> int:
    return hil_option(pytestconfig, "hil_frames")


@pytest.fixture
def hil_classify_every(pytestconfig: pytest.Config) -> int:
    return hil_option(pytestconfig, "hil_classify_every")


@pytest.fixture
def hil_exact(pytestconfig: pytest.Config, hil_target: Target) -> bool:
    """Exact comparison with the host C core: ``--hil-exact`` / ``--no-hil-exact``,
    else RUV_HIL_EXACT (1/0), else on for the local targets (vdev, --hil-exec)."""
    v = pytestconfig.getoption("hil_exact", default=None)
    if v is None:
        env = os.environ.get("RUV_HIL_EXACT", "")
        if env not in ("", "0", "1"):
            raise pytest.UsageError(f"RUV_HIL_EXACT={env!r}: want 0 or 1")
        v = env == "1" if env else hil_target.kind in ("vdev", "exec")
    return bool(v)


@pytest.fixture
def hil_soak_frames(pytestconfig: pytest.Config) -> int:
    return hil_option(pytestconfig, "hil_soak_frames")


# ---- extra virtual devices -------------------------------------------------------------


@pytest.fixture
def vdev_factory(hil_target: Target, tmp_path: Path) -> Iterator[Callable[..., hil.VdevProcess]]:
    """Starts extra ``ruv_vdev --pty`` processes (killed at the end). Skips
    the test on a port / --hil-exec target: it needs the virtual device."""
    if not hil_target.is_vdev:
        pytest.skip("needs the virtual device (process kill / vdev options / /proc)")
    procs: list[hil.VdevProcess] = []

    def start(*args: str) -> hil.VdevProcess:
        p = hil.VdevProcess(*args)
        procs.append(p)
        return p

    yield start
    for p in procs:
        p.close()


# ---- power cycles --------------------------------------------------------------------


class _Machine:
    """One boot of a device whose flash persists across boots: ``client()``,
    ``kill()`` (the power cut), ``close()``, ``slots()`` = the bytes of
    model_a and model_b as the flash holds them now."""

    def __init__(self, proc: Any, slots: Callable[[], tuple[bytes, bytes]]) -> None:
        self.proc, self._slots = proc, slots

    def client(self) -> DeviceClient:
        """A synchronised client. QEMU's pty backend notices a newly opened
        port only on its next poll (up to a second), and until then a read
        can see a hang-up: such an open is retried."""
        import time

        import serial

        from ruv_temporal.device import SerialTransport

        last: Exception | None = None
        for _ in range(10):
            dev = DeviceClient(SerialTransport(self.proc.port), timeout=15.0)
            try:
                hil.sync(dev, attempts=120)
                return dev
            except (serial.SerialException, OSError) as e:
                last = e
                dev.close()
                time.sleep(1.0)
        raise RuvError(f"{self.proc.port}: the console does not open: {last}")

    def kill(self) -> None:
        self.proc.kill()

    def close(self) -> None:
        self.proc.close()

    def slots(self) -> tuple[bytes, bytes]:
        return self._slots()


@pytest.fixture
def power_cycler(hil_target: Target, tmp_path: Path) -> Iterator[Callable[[bytes], _Machine]]:
    """``boot(first_model)``: boots a device on persistent flash — the
    virtual device on slot files, or QEMU on a copy of the flash image — the
    first call with ``first_model`` as the only model; later calls boot the
    same flash again (a power cycle). Skipped on a port and an ELF."""
    if hil_target.kind not in ("vdev", "qemu"):
        pytest.skip("power cycles need the virtual device or QEMU")
    machines: list[_Machine] = []
    state: dict[str, Any] = {}

    def boot(first_model: bytes) -> _Machine:
        if hil_target.kind == "vdev":
            slots = tmp_path / "slots"
            model = tmp_path / "first.rvne"
            model.write_bytes(first_model)
            proc = hil.VdevProcess("--slots", str(slots), "--model", str(model),
                                   "--window-len", "64")
            m = _Machine(proc, lambda: ((slots / "slot_a.bin").read_bytes(),
                                        (slots / "slot_b.bin").read_bytes()))
        else:
            from ruv_temporal import provision, qemu

            image = tmp_path / "flash.bin"
            if not image.exists():
                assert hil_target.image is not None
                shutil.copyfile(hil_target.image, image)
            proc = qemu.QemuProcess(image)

            def read_slots() -> tuple[bytes, bytes]:
                return provision.image_slots(image.read_bytes())

            m = _Machine(proc, read_slots)
            if not state.get("seeded"):
                state["seeded"] = True
                c = m.client()
                c.load_blob(first_model, chunk_size=1984)
                c.close()
        machines.append(m)
        return m

    yield boot
    for m in machines:
        m.close()
