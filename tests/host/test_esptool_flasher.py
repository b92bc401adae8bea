"""EsptoolFlasher against a stand-in for esptool's loader: it uses only
esptool 5's public API (esptool.cmds functions and the loader's context
manager), releases the serial port on close and on every failed connect,
and refuses a chip of the wrong kind. The real esptool is checked for the
functions it calls, so a too-old esptool fails here rather than at a
board."""

from __future__ import annotations

import inspect

import esptool.cmds
import pytest

from ruv_temporal import provision
from ruv_temporal.provision import EsptoolFlasher, ProvisionError


class FakeLoader:
    """Public surface only: touching a private attribute fails the test."""

    def __init__(self, chip: str, log: list[str]) -> None:
        self.CHIP_NAME = chip
        self.log = log

    def __getattr__(self, name: str):  # only called for missing attributes
        raise AssertionError(f"EsptoolFlasher used loader.{name}")

    def __enter__(self) -> FakeLoader:
        self.log.append("open")
        return self

    def __exit__(self, *exc: object) -> None:
        self.log.append("close")

    def change_baud(self, baud: int) -> None:
        self.log.append(f"baud {baud}")


@pytest.fixture()
def fake_esptool(monkeypatch: pytest.MonkeyPatch):
    log: list[str] = []
    state = {"chip": "ESP32-S3", "fail_stub": False}

    def detect_chip(port, baud=115200, connect_mode="default-reset", **kw):
        log.append(f"detect {port} {connect_mode}")
        return FakeLoader(state["chip"], log)

    def run_stub(esp):
        if state["fail_stub"]:
            raise OSError("stub upload failed")
        log.append("stub")
        return esp

    def attach_flash(esp):
        log.append("attach")

    def read_flash(esp, addr, size, output=None, no_progress=False):
        log.append(f"read {addr:#x} {size}")
        return b"\xff" * size

    def write_flash(esp, addr_data, no_progress=False):
        log.extend(f"write {a:#x} {len(d)}" for a, d in addr_data)

    def reset_chip(esp, mode):
        log.append(f"reset {mode}")

    for name, fn in dict(detect_chip=detect_chip, run_stub=run_stub, attach_flash=attach_flash,
                         read_flash=read_flash, write_flash=write_flash,
                         reset_chip=reset_chip).items():
        monkeypatch.setattr(esptool.cmds, name, fn)
    return log, state


def test_session_opens_and_releases_the_port(fake_esptool) -> None:
    log, _ = fake_esptool
    f = EsptoolFlasher("/dev/ttyX", baud=921600)
    assert f.chip == "ESP32-S3"
    assert f.read(0x9000, 16) == b"\xff" * 16
    f.write(0x110000, b"abc")
    f.reset()
    f.close()
    assert log == ["detect /dev/ttyX default-reset", "open", "stub", "baud 921600", "attach",
                   "read 0x9000 16", "write 0x110000 3", "reset hard-reset", "close"]


def test_wrong_chip_refused_and_port_released(fake_esptool) -> None:
    log, state = fake_esptool
    state["chip"] = "ESP32-C3"
    with pytest.raises(ProvisionError, match="is an ESP32-C3, not an esp32s3"):
        EsptoolFlasher("/dev/ttyX")
    assert log[-1] == "close"
    state["chip"] = "ESP32-C3"
    EsptoolFlasher("/dev/ttyX", chip="any").close()
    assert log[-1] == "close"


def test_failed_connect_releases_the_port(fake_esptool) -> None:
    log, state = fake_esptool
    state["fail_stub"] = True
    with pytest.raises(OSError, match="stub upload failed"):
        EsptoolFlasher("/dev/ttyX")
    assert log == ["detect /dev/ttyX default-reset", "open", "close"]


def test_installed_esptool_has_the_api_used() -> None:
    """The esptool>=5.0 floor of host/pyproject.toml: the functions and
    keywords EsptoolFlasher calls exist in the installed esptool."""
    cmds = esptool.cmds
    params = {name: set(inspect.signature(getattr(cmds, name)).parameters)
              for name in ("detect_chip", "run_stub", "attach_flash", "read_flash",
                           "write_flash", "reset_chip")}
    assert {"port", "baud", "connect_mode"} <= params["detect_chip"]
    assert {"output", "no_progress"} <= params["read_flash"]
    # write_flash takes its options as documented keyword arguments
    assert "no_progress" in params["write_flash"] or (
        "kwargs" in params["write_flash"] and "no_progress" in (cmds.write_flash.__doc__ or ""))
    loader = cmds.ESPLoader
    assert hasattr(loader, "__enter__") and hasattr(loader, "__exit__")
    assert "esp._port" not in inspect.getsource(provision)
