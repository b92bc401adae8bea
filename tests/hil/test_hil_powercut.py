"""Power cut during a model upload, on flash that survives it (docs/model-slots.md).

Runs on the virtual device (slot files) and on the emulated ESP32-S3 (QEMU
killed mid-upload, booted again from the same flash image: the chip's
flash-mapped slots, its boot-time slot choice). The upload goes into the
inactive slot; the power goes before ``load commit``; after the next boot
the previous model runs with bit-identical logits, the flash holds it
unchanged in its slot, and the next upload commits normally.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from ruv_temporal import hil, provision

pytestmark = pytest.mark.hil


@pytest.mark.parametrize("point", ["half-the-chunks", "all-chunks-no-commit"])
def test_power_cut_mid_upload_keeps_the_running_model(power_cycler, point) -> None:
    a, b, c = (hil.seeded_model(s) for s in (201, 202, 203))
    frames = hil.synthetic_frames(200, 16, seed=61)
    m1 = power_cycler(a)
    cl = m1.client()
    cl.load_blob(b, chunk_size=1984)          # b active, a (or the factory model) in the other slot
    info_b = cl.info()
    assert info_b["model"] == provision.model_id(b)
    before = hil.run_frames(cl, frames, "window").view(np.uint32).tolist()
    r = cl.command(f"load begin {len(c)} {zlib.crc32(c):08x}")
    assert r.fields["slot"] != info_b["slot"]
    chunks = [(off, c[off:off + 1984]) for off in range(0, len(c), 1984)]
    n = len(chunks) // 2 if point == "half-the-chunks" else len(chunks)
    for off, ch in chunks[:n]:
        cl.command(f"load chunk {off} {zlib.crc32(ch):08x} {ch.hex()}")
    cl.close()
    m1.kill()                                  # the power goes

    m2 = power_cycler(a)                       # boots the same flash again
    cl2 = m2.client()
    info = cl2.info()
    assert (info["model"], info["slot"], info["gen"]) == (info_b["model"], info_b["slot"],
                                                          info_b["gen"])
    assert hil.run_frames(cl2, frames, "window").view(np.uint32).tolist() == before
    assert hil.compare(cl2, b, frames, mode="stream", classify_every=50).ok
    # On flash: the running slot holds b unchanged, the cut one holds no valid model.
    slots = m2.slots()
    active = int(info_b["slot"])
    st, blob = provision.check_slot(slots[active])
    assert st.valid and blob == b and st.generation == int(info_b["gen"])
    assert not provision.check_slot(slots[1 - active])[0].valid
    # The next upload commits into the cut slot with the next generation.
    r2 = cl2.load_blob(c, chunk_size=1984)
    assert (r2["slot"], r2["gen"], r2["model"]) == (str(1 - active), str(int(info_b["gen"]) + 1),
                                                   provision.model_id(c))
    cl2.close()
