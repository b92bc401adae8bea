"""The virtual device refuses bad options (docs/protocol.md, "Virtual device").

Every numeric option is range-checked with the board's Kconfig limits
(firmware/main/Kconfig.projbuild), trailing garbage is refused, and a refused
start prints exactly one error line naming the option and exits non-zero —
with ``--pty`` too, before any pty path is printed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from ruv_temporal.device import find_vdev

KCONFIG = Path(__file__).resolve().parents[2] / "firmware" / "main" / "Kconfig.projbuild"


@pytest.fixture(scope="module")
def vdev_exe() -> Path:
    return find_vdev()


def kconfig_range(name: str) -> tuple[int, int]:
    text = KCONFIG.read_text()
    m = re.search(rf"config {name}\n(?:.*\n)*?\s+range (\d+) (\d+)", text)
    assert m, name
    return int(m.group(1)), int(m.group(2))


# option -> Kconfig symbol with the same meaning on the board
KCONFIG_OPTIONS = {
    "--input-dim": "TEMPORAL_INPUT_DIM",
    "--window-len": "TEMPORAL_WINDOW_LEN",
    "--n-classes": "TEMPORAL_N_CLASSES",
    "--period-ms": "TEMPORAL_CLASSIFY_PERIOD_MS",
    "--node-id": "TEMPORAL_NODE_ID",
}


def run(exe: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(exe), *args], input=stdin, capture_output=True, text=True,
                          timeout=20)


def refused(exe: Path, option: str, *args: str) -> None:
    for pty in (False, True):
        argv = (["--pty"] if pty else []) + list(args)
        r = run(exe, *argv)
        assert r.returncode != 0, (argv, r.stdout)
        lines = r.stderr.splitlines()
        assert len(lines) == 1, (argv, r.stderr)
        assert lines[0].startswith("ruv_vdev: ") and option in lines[0], lines[0]
        assert "PTY" not in r.stdout and "@B" not in r.stdout, (argv, r.stdout)


def bad_values(option: str) -> list[str]:
    lo, hi = kconfig_range(KCONFIG_OPTIONS[option])
    vals = [str(hi + 1), f"{lo}x", f" {lo}", f"+{lo}", "-1", "", "0x10", str(2**32 + lo),
            str(2**64 + lo), "1e3"]
    if lo > 0:
        vals.append(str(lo - 1))
    return vals


@pytest.mark.parametrize("option", sorted(KCONFIG_OPTIONS))
def test_kconfig_options_out_of_range_or_malformed_are_refused(vdev_exe: Path, option: str) -> None:
    for value in bad_values(option):
        if option == "--period-ms" and value == "0":
            continue  # 0 turns the schedule off
        refused(vdev_exe, option, option, value)


@pytest.mark.parametrize(("option", "value"), [
    ("--feature-set", "65536"), ("--feature-set", "1.5"), ("--consume-delay-us", "-5"),
    ("--consume-delay-us", "10000001"), ("--slot-size", "4096"), ("--slot-size", "12289"),
    ("--slot-size", "1M"), ("--read-size", "0"), ("--read-size", "4097"),
    ("--mode", "fast"), ("--udp", "127.0.0.1:70000"), ("--udp", "127.0.0.1:5005x"),
    ("--udp", "10.0.0.1:5005"), ("--model", "/nonexistent/model.rvne"),
])
def test_other_bad_options_are_refused(vdev_exe: Path, option: str, value: str) -> None:
    refused(vdev_exe, option, option, value)


def test_missing_value_and_unknown_option(vdev_exe: Path) -> None:
    refused(vdev_exe, "--window-len", "--window-len")
    refused(vdev_exe, "--frobnicate", "--frobnicate")


def test_the_issue_examples(vdev_exe: Path) -> None:
    """Values that used to start silently wrong: n_classes 0 / 300 (no banner,
    exit 0), input dim 65552 (became 16), node id 300 (became 44), period -1
    (became 4294967295)."""
    for args in (("--n-classes", "0"), ("--n-classes", "300"), ("--input-dim", "65552"),
                 ("--node-id", "300"), ("--period-ms", "-1")):
        refused(vdev_exe, args[0], *args)


@pytest.mark.parametrize("option", sorted(KCONFIG_OPTIONS))
def test_kconfig_limits_are_accepted(vdev_exe: Path, option: str) -> None:
    lo, hi = kconfig_range(KCONFIG_OPTIONS[option])
    for value in (lo, hi):
        r = run(vdev_exe, option, str(value), stdin="#a info\n")
        assert r.returncode == 0, (option, value, r.stderr)
        assert any(x.startswith("@B ruv-temporal ") for x in r.stdout.splitlines()), r.stdout
        info = next(line for line in r.stdout.splitlines() if line.startswith("@R a info"))
        fields = dict(w.split("=", 1) for w in info.split()[3:] if "=" in w)
        key = {"--input-dim": "D", "--window-len": "N", "--n-classes": "C",
               "--period-ms": "period_ms", "--node-id": "node"}[option]
        assert fields[key] == str(value)


def test_host_wrappers_report_the_error_line(vdev_exe: Path) -> None:
    """VirtualDevice (pipes) and VdevProcess (pty) raise with the vdev's line."""
    from ruv_temporal import hil
    from ruv_temporal.device import VirtualDevice
    from ruv_temporal.errors import RuvError

    with pytest.raises(RuvError, match=r"--n-classes 0: want an integer in 2\.\.16"):
        VirtualDevice("--n-classes", "0", exe=vdev_exe)
    with pytest.raises(RuvError, match=r"--window-len 31: want an integer in 32\.\.1024"):
        hil.VdevProcess("--window-len", "31", exe=vdev_exe, startup_timeout=10.0)
