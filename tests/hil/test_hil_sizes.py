"""Size arithmetic on untrusted console input (docs/protocol.md, "Sizes").

The chip's ``size_t`` is 32 bits. Every count a console line carries is
checked by dividing the bytes received, never by multiplying the count, so a
count chosen to wrap the product (``push 33554433`` with D = 16:
33554433 * 16 * 8 = 2**32 + 128, one frame's worth of hex) is refused with
INVALID_SIZE on a 32-bit build as on a 64-bit one, and nothing is pushed.
These tests run against whichever build of the device the suite targets.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from ruv_temporal import hil
from ruv_temporal.device import floats_to_hex
from ruv_temporal.errors import DeviceError
from ruv_temporal.status import Status

pytestmark = pytest.mark.hil

WRAP_32 = 2**32


def wrapping_count(dim: int) -> int:
    """A frame count whose hex length n * dim * 8 is one frame modulo 2**32."""
    per_frame = dim * 8
    assert WRAP_32 % per_frame == 0
    return WRAP_32 // per_frame + 1


def one_frame_hex(dim: int) -> str:
    return floats_to_hex(np.ones(dim, dtype=np.float32))


def assert_push_refused(client, dim: int) -> None:
    client.reset()
    n = wrapping_count(dim)
    if dim == 16:
        assert n == 33554433
    with pytest.raises(DeviceError) as e:
        client.command(f"push {n} {one_frame_hex(dim)}")
    assert e.value.status == Status.INVALID_SIZE
    assert "length" in str(e.value)
    client.wait_idle(timeout=10)
    st = client.stats()
    assert st["frames"] == "0"
    # the device is still healthy: one honest frame goes in
    r = client.command(f"push 1 {one_frame_hex(dim)}")
    assert r.fields["accepted"] == "1"


def test_push_count_that_wraps_32_bits_is_a_size_error(device) -> None:
    assert_push_refused(device, device.input_dim)


def test_push_count_that_wraps_32_bits_is_a_size_error_when_queued(vdev_factory, tmp_path) -> None:
    """The same line on the queued path (frames go through the temporal
    task's queue): the old code pushed 31 frames of out-of-bounds memory."""
    blob = hil.seeded_model(301)
    (tmp_path / "m.rvne").write_bytes(blob)
    proc = vdev_factory("--model", str(tmp_path / "m.rvne"), "--consume-delay-us", "100")
    client = proc.client()
    try:
        assert client.stats()["depth"] == "32"
        assert_push_refused(client, 16)
        assert client.stats()["queued"] == "1"
    finally:
        client.close()


@pytest.mark.parametrize("n_bytes", [2**31 + 2, 2**32 - 1, 2**32 + 4])
def test_upload_lengths_beyond_the_slot_are_refused(device, n_bytes) -> None:
    """``load begin`` lengths near and past 2**32: refused by size (or as not
    a u32), never rounded into a small erase; the old model keeps running."""
    info0 = device.info()
    with pytest.raises(DeviceError) as e:
        device.command(f"load begin {n_bytes} 00000000")
    assert e.value.status in (Status.INVALID_SIZE, Status.INVALID_ARG)
    with pytest.raises(DeviceError) as e:
        device.command("load chunk 0 d202ef8d 00")
    assert e.value.status == Status.INVALID_STATE
    assert device.info()["model"] == info0["model"]


def test_chunk_offset_near_2_32_is_refused(device) -> None:
    """A chunk offset that wraps offset + length on 32 bits is out of order
    (offsets must follow each other), and so is one past the announced end."""
    blob = hil.seeded_model(302, device.input_dim, device.n_classes)
    device.command(f"load begin {len(blob)} {zlib.crc32(blob):08x}")
    try:
        for off in (2**32 - 1, 2**32 - 2):
            with pytest.raises(DeviceError) as e:
                device.command(f"load chunk {off} {zlib.crc32(blob[:2]):08x} {blob[:2].hex()}")
            assert e.value.status == Status.INVALID_STATE
        first = blob[:100]
        r = device.command(f"load chunk 0 {zlib.crc32(first):08x} {first.hex()}")
        assert r.fields["next"] == "100"
    finally:
        device.command("load abort")
