"""The console link survives lost and garbled lines (docs/protocol.md, "Link
layer"; docs/hil.md).

A fault-injecting pty (``faultlink.FaultyLink``) sits between the
DeviceClient and the virtual device's pty and drops or corrupts chosen or
seeded-random request and reply lines. With the link layer the comparison
still gives exactly the logits of a clean run (bit for bit), every fault is
one counted recovery, and no resent push is applied twice (``stats
frames``). With recovery off, the same single fault fails the run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from faultlink import FaultyLink

from ruv_temporal import hil, provision
from ruv_temporal.device import DeviceClient, SerialTransport
from ruv_temporal.errors import DeviceError

pytestmark = pytest.mark.hil

FRAMES = 3000
EVERY = 50


@pytest.fixture
def link_rig(vdev_factory, hil_target, tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """``rig(**faults)`` -> (FaultyLink, DeviceClient, vdev): a fresh virtual
    device with the suite's model behind a faulty link; the client is
    synchronised (link session open) before the link is armed."""
    model = tmp_path / "m.rvne"
    model.write_bytes(hil_target.blob)
    opened: list[tuple[FaultyLink, DeviceClient]] = []

    def rig(*, recover: bool = True, link_timeout: float = 2.0, **faults: Any):
        vdev = vdev_factory("--model", str(model), "--window-len", "64")
        link = FaultyLink(vdev.port, **faults)
        client = DeviceClient(SerialTransport(link.port), timeout=10.0, recover=recover,
                              link_timeout=link_timeout)
        opened.append((link, client))
        hil.sync(client)
        assert client.link == recover
        return link, client, vdev

    yield rig
    for link, client in opened:
        client.close()
        link.close()


def pipelined_run(client: DeviceClient, frames: np.ndarray, mode: str, fp16: bool,
                  n_layers: int) -> dict[Any, list[int]]:
    """mode, reset, pushes with a classify every EVERY frames, the layer
    states at the end — all pipelined. Returns the bit patterns per tag."""
    pipe = hil.Pipeline(client, depth=16, timeout=30.0)
    pipe.submit(f"mode {mode} fp16={int(fp16)}", "mode")
    pipe.submit("reset", "reset")
    per = hil.per_line(frames.shape[1])
    for start in range(0, frames.shape[0], EVERY):
        block = frames[start:start + EVERY]
        for i in range(0, block.shape[0], per):
            b = block[i:i + per]
            pipe.submit(f"push {b.shape[0]} {hil.floats_to_hex(b)}", "push")
        pipe.submit("classify", ("classify", start + block.shape[0] - 1))
    for s in range(n_layers + 1):
        pipe.submit(f"layer {s}", ("layer", s))
    out: dict[Any, list[int]] = {}
    for tag, r in pipe.results():
        if isinstance(r, DeviceError):
            raise r
        if isinstance(tag, tuple):
            key = "logits" if tag[0] == "classify" else "state"
            out[tag] = hil.hex_to_floats(r.fields[key]).view(np.uint32).tolist()
    return out


def frames_for(blob: bytes, n: int = FRAMES) -> np.ndarray:
    return hil.synthetic_frames(n, 16, seed=21, source="random", blob=blob)


@pytest.fixture(scope="module")
def clean_runs() -> dict[tuple[str, bool], dict[Any, list[int]]]:
    return {}


def clean_run(rig, clean_runs, blob: bytes, mode: str, fp16: bool) -> dict[Any, list[int]]:
    if (mode, fp16) not in clean_runs:
        link, client, _ = rig()
        link.arm()
        clean_runs[(mode, fp16)] = pipelined_run(client, frames_for(blob), mode, fp16,
                                                 int(client.info()["layers"]))
        assert link.injected.count() == 0 and client.link_stats.recoveries == 0
        assert client.link_stats.requests > 100
    return clean_runs[(mode, fp16)]


# Six faults, about 40 lines apart (more than two pipelines of 16), so each
# is one recovery: a dropped reply, a corrupted and a truncated reply, two
# dropped requests and a corrupted one.
CHOSEN = dict(drop_replies={30}, corrupt_replies={110}, cut_replies={230},
              drop_requests={70, 190}, corrupt_requests={150})


@pytest.mark.parametrize(("mode", "fp16"), [("stream", True), ("window", False)],
                         ids=["stream-fp16", "window"])
def test_chosen_faults_are_recovered_bit_for_bit(link_rig, hil_target, clean_runs, mode,
                                                 fp16) -> None:
    blob = hil_target.blob
    want = clean_run(link_rig, clean_runs, blob, mode, fp16)
    # No fault here needs the link timeout; a long one keeps a loaded host
    # from adding a spurious recovery to the exact counts.
    link, client, _ = link_rig(**CHOSEN, link_timeout=10.0)
    link.arm()
    got = pipelined_run(client, frames_for(blob), mode, fp16, int(client.info()["layers"]))
    ls = client.link_stats
    print("\n" + ls.line(), link.injected.events)
    assert got == want  # every classification and layer state, bit for bit
    assert link.injected.count() == 6
    assert ls.recoveries == 6
    assert (ls.lost, ls.garbled, ls.refused, ls.timeouts) == (1, 2, 3, 0)
    assert ls.resends >= ls.recoveries
    link.disarm()
    st = client.stats()
    # no resent push ran twice, no resent classify counted twice
    assert int(st["frames"]) == FRAMES
    assert int(st["classifications"]) == FRAMES // EVERY
    assert int(st["link_replayed"]) >= 3  # the lost / garbled replies came from the cache
    assert int(st["link_refused"]) >= 3   # the dropped / corrupted requests were refused


@pytest.mark.parametrize("seed", [7, 8])
def test_random_faults_seeded(link_rig, hil_target, clean_runs, seed) -> None:
    """Seeded random drops and corruptions (both directions, 2 % of the
    lines, anywhere in a line — id, sequence number and CRC included):
    still the clean run's bits."""
    blob = hil_target.blob
    want = clean_run(link_rig, clean_runs, blob, "stream", True)
    link, client, _ = link_rig(rate=0.02, seed=seed, link_timeout=3.0)
    link.arm()
    got = pipelined_run(client, frames_for(blob), "stream", True, int(client.info()["layers"]))
    ls = client.link_stats
    faults = link.injected.count()
    print(f"\n{faults} faults injected; {ls.line()}")
    assert got == want
    assert faults >= 4
    # every fault costs at most one recovery (faults close together share one)
    assert 1 <= ls.recoveries <= faults
    link.disarm()
    assert int(client.stats()["frames"]) == FRAMES


def test_hil_compare_reports_the_link(link_rig, hil_target) -> None:
    """The comparison engine under faults: agreement, and the report's link
    line counts the recoveries."""
    link, client, _ = link_rig(drop_replies={25}, corrupt_requests={90}, link_timeout=10.0)
    link.arm()
    frames = hil.synthetic_frames(2000, 16, seed=11, blob=hil_target.blob)
    res = hil.compare(client, hil_target.blob, frames, mode="stream", kv_fp16=False)
    report = res.report()
    print("\n" + report)
    assert res.ok, report
    assert res.link is not None and res.link.recoveries == 2
    assert "link: 2 recoveries" in report and "1 lost replies" in report
    assert "1 refused requests" in report


def test_lost_reply_of_a_single_command_by_timeout(link_rig) -> None:
    """Nothing follows the lost reply: the link timeout resends; the push
    is answered from the cache, not pushed twice."""
    link, client, _ = link_rig(drop_replies={1}, link_timeout=0.5)
    client.reset()
    link.arm()
    client.command("ping")
    r = client.command(f"push 1 {hil.floats_to_hex(np.ones((1, 16), np.float32))}")
    assert r.fields["frames"] == "1"
    ls = client.link_stats
    assert (ls.recoveries, ls.lost, ls.timeouts, ls.resends) == (1, 1, 1, 1)
    link.disarm()
    st = client.stats()
    assert st["frames"] == "1" and st["link_replayed"] == "1"


def test_without_recovery_one_lost_reply_fails_the_run(link_rig, hil_target) -> None:
    """The same kind of fault with the link layer off (protocol v1): the
    run fails with a timeout — what the link layer is there for."""
    link, client, _ = link_rig(recover=False, drop_replies={30})
    link.arm()
    with pytest.raises(DeviceError, match="no reply to request"):
        pipelined_run_short_timeout(client, frames_for(hil_target.blob, 1000))
    assert link.injected.count() == 1 and client.link_stats.recoveries == 0


def pipelined_run_short_timeout(client: DeviceClient, frames: np.ndarray) -> None:
    pipe = hil.Pipeline(client, depth=16, timeout=3.0)
    per = hil.per_line(frames.shape[1])
    for i in range(0, frames.shape[0], per):
        b = frames[i:i + per]
        pipe.submit(f"push {b.shape[0]} {hil.floats_to_hex(b)}", "push")
        pipe.submit("classify", "classify")
    pipe.results()


def test_session_taken_over_is_reported_not_hidden(link_rig) -> None:
    """A device whose session moved on (another host sent ``link``) refuses
    this client's framed requests: the client reports it instead of
    resending forever."""
    link, client, _ = link_rig()
    client.t.write_line("#x link 999")  # another session takes over the device
    assert client.t.read_line(2.0) is not None
    with pytest.raises(DeviceError, match="link: "):
        client.command("ping")


def test_link_on_the_session_target(hil_target) -> None:
    """The same recovery on whatever the suite runs against — the virtual
    device, the ESP-IDF linux-target ELF (``--hil-exec``), an emulated chip
    or a board (``--port``): a faulty link in front of its serial port, the
    comparison engine (which on a queued platform sends one push at a time,
    so lost lines there are found by the link timeout) agrees, every fault
    costs a recovery, and the device counted each frame once."""
    link = FaultyLink(hil_target.port, drop_requests={20}, corrupt_replies={60},
                      corrupt_requests={100}, drop_replies={140})
    client = DeviceClient(SerialTransport(link.port), timeout=15.0, link_timeout=2.0)
    try:
        hil.sync(client)
        assert client.link
        if client.info().get("model") != provision.model_id(hil_target.blob):
            client.load_blob(hil_target.blob, chunk_size=1984)
        frames = hil.synthetic_frames(3000, client.input_dim, seed=13, blob=hil_target.blob)
        link.arm()
        res = hil.compare(client, hil_target.blob, frames, mode="stream", kv_fp16=False)
        link.disarm()
        print("\n" + res.report())
        assert res.ok, res.report()
        assert link.injected.count() == 4, link.injected.events
        # (the cause of each depends on the target: a corrupted byte that
        # hits a short request's trailer makes it a plain line, refused by
        # its argument count, whose untrailered reply counts as garbled)
        assert res.link is not None and res.link.recoveries >= 4
        assert res.link.garbled >= 1 and res.link.lost >= 1
        assert int(client.stats()["frames"]) == frames.shape[0]
    finally:
        client.close()
        link.close()
