"""EsptoolFlasher against a stand-in for esptool's loader that exposes only
public attributes: esptool 5's API (esptool.cmds functions and the loader's
context manager) is all it uses, and the serial port is released on a
refused chip and on a connect that fails half-way. The whole provisioning
run against a stand-in is in tests/hil/test_provision.py."""

from __future__ import annotations

import inspect

import esptool.cmds
import pytest

from ruv_temporal import provision
from ruv_temporal.provision import EsptoolFlasher


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


def test_failed_connect_releases_the_port(fake_esptool) -> None:
    log, state = fake_esptool
    state["fail_stub"] = True
    with pytest.raises(OSError, match="stub upload failed"):
        EsptoolFlasher("/dev/ttyX")
    assert log == ["detect /dev/ttyX default-reset", "open", "close"]


def test_installed_esptool_loader_is_a_context_manager() -> None:
    """What EsptoolFlasher relies on to release the port (esptool >= 5.0,
    the floor of host/pyproject.toml); the call signatures are bound against
    the installed esptool in tests/hil/test_provision.py."""
    assert hasattr(esptool.cmds.ESPLoader, "__enter__")
    assert hasattr(esptool.cmds.ESPLoader, "__exit__")
    assert "._port" not in inspect.getsource(provision)
