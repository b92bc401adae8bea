"""Provisioning of RVNE model blobs into a device's model slots.

Every path verifies the blob with :func:`ruv_temporal.rvne.parse` (and,
when the device is known, its input_dim / n_classes) **before** anything on
the device is touched, and refuses with the parser's reason.

Paths (``ruv-temporal provision --via ...``, docs/hil.md):

* ``console`` — the console protocol (``load begin/chunk/commit``,
  docs/protocol.md): the app writes the inactive slot, checks CRC and shape
  and writes the slot header last; afterwards ``info`` must report the new
  model id. Works on a board, the linux-target ELF and the virtual device.
* ``esptool`` — raw flash access with esptool's Python API: the partition
  table (read from flash at 0x8000 or given as a file) locates the slots
  ``model_a``/``model_b`` **by label**; the slot headers on flash decide the
  inactive slot and the next generation, mirroring the app's
  ``pick_target``/``max_generation``; the blob (with the header sector
  erased) is written and read back, then the header sector is written and
  read back (header last, as the app does), then the chip is reset.
* ``image`` — the same flash logic on a flash image file (the ESP-IDF
  linux target's emulated flash, ``RUV_LINUX_FLASH_IMAGE``).
* ``slots`` — the same slot logic on ``ruv_vdev --slots DIR`` files.

The slot layout (docs/model-slots.md) is :data:`SlotHeader` (construct),
byte-identical to the C ``ruv_app_slot_image``.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from construct import (
    Bytes,
    Checksum,
    ChecksumError,
    Const,
    ConstructError,
    Int8ul,
    Int32ul,
    PaddedString,
    RawCopy,
    Struct,
    this,
)

from ruv_temporal import rvne
from ruv_temporal.errors import BlobError, DeviceError, RuvError

# ---- slot header (docs/model-slots.md) ---------------------------------------

SLOT_MAGIC = 0x4C535652  # "RVSL"
SLOT_LAYOUT = 1
SLOT_STATE_VALID = 0x56414C44
SLOT_HEADER_LEN = 32
ERASE_ALIGN = 4096
SLOT_LABELS = ("model_a", "model_b")


def _crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


SlotHeaderBody = Struct(
    "magic" / Int32ul,
    "layout" / Int32ul,
    "generation" / Int32ul,
    "blob_len" / Int32ul,
    "blob_crc" / Int32ul,
    "state" / Int32ul,
    "signed_floor" / Int32ul,  # replay floor of signed models (docs/model-slots.md)
)
SlotHeader = Struct(
    "body" / RawCopy(SlotHeaderBody),
    "header_crc" / Checksum(Int32ul, _crc32, this.body.data),
)
"""32-byte slot header; ``header_crc`` = CRC-32 of bytes 0..27."""


class ProvisionError(RuvError):
    """Provisioning refused or failed. ``exit_code`` follows the CLI's
    convention (1 device refused / check failed, 2 bad input, 3 I/O)."""

    def __init__(self, message: str, exit_code: int = 3) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass(frozen=True)
class SlotState:
    valid: bool
    generation: int = 0
    blob_len: int = 0
    blob_crc: int = 0
    why: str = ""
    raw: bool = False  # a bare RVNE blob at offset 0 (the "factory" slot, generation 0)
    signed_floor: int = 0  # highest signed-model generation the node had accepted


def slot_header(blob: bytes, generation: int, signed_floor: int = 0) -> bytes:
    """The 32-byte valid header for ``blob`` at ``generation``; ``signed_floor``
    carries the node's replay floor of signed models forward (word 24)."""
    return SlotHeader.build({"body": {"value": {
        "magic": SLOT_MAGIC, "layout": SLOT_LAYOUT, "generation": int(generation),
        "blob_len": len(blob), "blob_crc": _crc32(blob), "state": SLOT_STATE_VALID,
        "signed_floor": int(signed_floor)}}})


def slot_image(blob: bytes, generation: int, erase_align: int = ERASE_ALIGN,
               signed_floor: int = 0) -> bytes:
    """Header page (``erase_align`` bytes, 0xFF after the header) + blob: the
    bytes of C ``ruv_app_slot_image(out, cap, blob, len, generation, align)``
    (with ``signed_floor`` 0)."""
    if erase_align < SLOT_HEADER_LEN or not blob:
        raise RuvError("erase_align must be >= 32 and the blob non-empty")
    page = slot_header(blob, generation, signed_floor) + b"\xff" * (erase_align - SLOT_HEADER_LEN)
    return page + bytes(blob)


def parse_slot_header(data: bytes, slot_size: int | None = None,
                      erase_align: int = ERASE_ALIGN) -> SlotState:
    """The header checks of the app's ``read_hdr`` (magic, layout, state,
    header CRC, blob_len fits). The blob CRC is checked by :func:`check_slot`."""
    if len(data) < SLOT_HEADER_LEN:
        return SlotState(False, why="short header")
    if data[:SLOT_HEADER_LEN] == b"\xff" * SLOT_HEADER_LEN:
        return SlotState(False, why="erased")
    if int.from_bytes(data[:4], "little") == rvne.MAGIC:
        # Factory slot: `idf.py flash` / parttool / esptool wrote a bare blob.
        weights_len = int.from_bytes(data[20:24], "little")
        if slot_size is not None and weights_len > slot_size - rvne.MIN_SIZE:
            return SlotState(False, why="bare blob larger than the slot")
        return SlotState(True, 0, weights_len + rvne.MIN_SIZE, 0, raw=True)
    try:
        h = SlotHeader.parse(data[:SLOT_HEADER_LEN])
    except ChecksumError:
        return SlotState(False, why="header CRC mismatch")
    except ConstructError as e:  # pragma: no cover - 32 bytes always parse
        return SlotState(False, why=str(e))
    b = h.body.value
    if b.magic != SLOT_MAGIC:
        return SlotState(False, why="bad magic")
    if b.layout != SLOT_LAYOUT:
        return SlotState(False, why=f"layout {b.layout}")
    if b.state != SLOT_STATE_VALID:
        return SlotState(False, why="state not valid")
    if b.blob_len == 0 or (slot_size is not None and b.blob_len > slot_size - erase_align):
        return SlotState(False, why="blob_len does not fit the slot")
    return SlotState(True, int(b.generation), int(b.blob_len), int(b.blob_crc),
                     signed_floor=int(b.signed_floor))


def check_slot(image: bytes, erase_align: int = ERASE_ALIGN) -> tuple[SlotState, bytes | None]:
    """Header + blob CRC of a whole slot image; returns the blob when valid."""
    st = parse_slot_header(image, len(image), erase_align)
    if not st.valid:
        return st, None
    if st.raw:
        blob = bytes(image[:st.blob_len])
        try:
            rvne.parse(blob)
        except BlobError as e:
            return SlotState(False, 0, st.blob_len, 0, f"bare blob refused: {e.reason}",
                             True), None
        return st, blob
    blob = bytes(image[erase_align:erase_align + st.blob_len])
    if _crc32(blob) != st.blob_crc:
        return SlotState(False, st.generation, st.blob_len, st.blob_crc, "blob CRC mismatch"), None
    return st, blob


def pick_target(states: Sequence[SlotState]) -> tuple[int, int, int | None]:
    """(target slot, new generation, active slot) like the app: the active
    slot is the valid one with the highest generation (lowest index on a
    tie); the target is never the active one — an invalid slot first, else
    the lowest generation; generation = max valid + 1."""
    valid = [(s.generation, -i, i) for i, s in enumerate(states) if s.valid]
    active = max(valid)[2] if valid else None
    best: int | None = None
    for i, s in enumerate(states):
        if i == active:
            continue
        if not s.valid:
            best = i
            break
        if best is None or s.generation < states[best].generation:
            best = i
    if best is None:
        raise ProvisionError("no inactive model slot to write", 3)
    gen = max((s.generation for s in states if s.valid), default=0) + 1
    return best, gen, active


# ---- partition table (ESP-IDF binary format) -----------------------------------

PARTITION_TABLE_OFFSET = 0x8000
PARTITION_TABLE_MAX = 0xC00  # 96 entries; gen_esp32part pads to this with 0xFF
PARTITION_MAGIC = b"\xaa\x50"
MD5_MAGIC = b"\xeb\xeb"

PartitionEntry = Struct(
    "magic" / Const(PARTITION_MAGIC),
    "type" / Int8ul,
    "subtype" / Int8ul,
    "offset" / Int32ul,
    "size" / Int32ul,
    "label" / PaddedString(16, "utf8"),
    "flags" / Int32ul,
)
Md5Entry = Struct("magic" / Const(MD5_MAGIC + b"\xff" * 14), "digest" / Bytes(16))

TYPES = {"app": 0x00, "data": 0x01, "bootloader": 0x02, "partition_table": 0x03}
SUBTYPES = {
    0x00: {"factory": 0x00, "test": 0x20, **{f"ota_{i}": 0x10 + i for i in range(16)}},
    0x01: {"ota": 0x00, "phy": 0x01, "nvs": 0x02, "coredump": 0x03, "nvs_keys": 0x04,
           "efuse": 0x05, "undefined": 0x06, "esphttpd": 0x80, "fat": 0x81, "spiffs": 0x82,
           "littlefs": 0x83},
}
FLAGS = {"encrypted": 0, "readonly": 1}


@dataclass(frozen=True)
class Partition:
    label: str
    type: int
    subtype: int
    offset: int
    size: int
    flags: int = 0


def parse_partition_table(data: bytes, *, check_md5: bool = True) -> list[Partition]:
    """Entries of an ESP-IDF binary partition table (gen_esp32part.py format:
    32-byte ``<2sBBLL16sL`` entries, an optional MD5 entry, 0xFF padding)."""
    parts: list[Partition] = []
    for pos in range(0, len(data) - 31, 32):
        raw = data[pos:pos + 32]
        if raw[:2] == b"\xff\xff":
            return parts
        if raw[:2] == MD5_MAGIC:
            if check_md5:
                try:
                    md5 = Md5Entry.parse(raw)
                except ConstructError as e:
                    raise RuvError(f"partition table: malformed MD5 entry: {e}") from None
                if md5.digest != hashlib.md5(data[:pos]).digest():
                    raise RuvError("partition table: MD5 mismatch (corrupt table)")
            return parts
        try:
            e = PartitionEntry.parse(raw)
        except ConstructError:
            raise RuvError(f"partition table: bad entry magic at +0x{pos:x} (not a partition "
                           "table, or not read from 0x8000)") from None
        parts.append(Partition(e.label, e.type, e.subtype, e.offset, e.size, e.flags))
    if not parts:
        raise RuvError("partition table: no entries")
    return parts


def image_slots(image: bytes,
                labels: tuple[str, str] = ("model_a", "model_b")) -> tuple[bytes, bytes]:
    """The two model slots as a whole flash image holds them (the partition
    table at 0x8000 says where): what a chip, or QEMU on that image, boots."""
    start = PARTITION_TABLE_OFFSET
    table = parse_partition_table(image[start:start + PARTITION_TABLE_MAX])
    by_label = {p.label: p for p in table}
    out = []
    for label in labels:
        p = by_label.get(label)
        if p is None:
            raise RuvError(f"flash image: no partition {label!r}")
        if p.offset + p.size > len(image):
            raise RuvError(f"flash image: partition {label!r} ends beyond the image")
        out.append(image[p.offset:p.offset + p.size])
    return out[0], out[1]


def build_partition_table(parts: Sequence[Partition], md5: bool = True) -> bytes:
    """The binary table gen_esp32part.py writes for these entries."""
    out = b"".join(PartitionEntry.build({"type": p.type, "subtype": p.subtype,
                                         "offset": p.offset, "size": p.size,
                                         "label": p.label, "flags": p.flags}) for p in parts)
    if md5:
        out += MD5_MAGIC + b"\xff" * 14 + hashlib.md5(out).digest()
    if len(out) >= PARTITION_TABLE_MAX:
        raise RuvError("partition table too long")
    return out + b"\xff" * (PARTITION_TABLE_MAX - len(out))


def _num(text: str) -> int:
    t = text.strip()
    m = re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)\s*([kKmM]?)", t)
    if not m:
        raise RuvError(f"partitions.csv: bad number {text!r}")
    v = int(m.group(1), 0)
    return v * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2).lower()]


def parse_partitions_csv(text: str, table_offset: int = PARTITION_TABLE_OFFSET) -> list[Partition]:
    """An ESP-IDF partitions.csv (gen_esp32part.py semantics for the common
    subset: type/subtype names or numbers, K/M sizes, empty offsets placed
    after the previous partition with type alignment, ``encrypted:readonly``)."""
    parts: list[Partition] = []
    nxt = table_offset + 0x1000
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        cols = [c.strip() for c in line.split(",")]
        cols += [""] * (6 - len(cols))
        name, ptype, sub, off, size, flags = cols[:6]
        try:
            t = TYPES[ptype] if ptype in TYPES else int(ptype, 0)
            s = SUBTYPES.get(t, {}).get(sub)
            if s is None:
                s = int(sub, 0) if sub else 0
            align = 0x10000 if t == 0 else 0x1000
            o = _num(off) if off else (nxt + align - 1) // align * align
            n = _num(size)
        except (ValueError, KeyError) as e:
            raise RuvError(f"partitions.csv line {lineno}: {e}") from None
        f = 0
        for fl in filter(None, (x.strip() for x in flags.split(":"))):
            if fl not in FLAGS:
                raise RuvError(f"partitions.csv line {lineno}: unknown flag {fl!r}")
            f |= 1 << FLAGS[fl]
        parts.append(Partition(name, t, s, o, n, f))
        nxt = o + n
    return parts


def load_partition_table(path: Path) -> list[Partition]:
    """A partition table file: binary (partition-table.bin) or partitions.csv."""
    data = Path(path).read_bytes()
    if data[:2] == PARTITION_MAGIC:
        return parse_partition_table(data)
    try:
        return parse_partitions_csv(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise RuvError(f"{path}: neither a binary partition table nor a CSV") from None


def find_slots(parts: Sequence[Partition], blob_len: int | None = None) -> list[Partition]:
    """The model slots, by label (model_a, model_b), checked to be data
    partitions large enough for the header sector + ``blob_len``."""
    by_label = {p.label: p for p in parts}
    slots = []
    for label in SLOT_LABELS:
        p = by_label.get(label)
        if p is None:
            raise ProvisionError(f"partition table has no {label!r} partition "
                                 f"(labels: {', '.join(by_label) or 'none'})", 2)
        if p.type != TYPES["data"]:
            raise ProvisionError(f"partition {label!r} is not a data partition", 2)
        if p.offset % ERASE_ALIGN or p.size % ERASE_ALIGN:
            raise ProvisionError(f"partition {label!r} is not 4 KB aligned", 2)
        if blob_len is not None and ERASE_ALIGN + blob_len > p.size:
            raise ProvisionError(f"blob of {blob_len} bytes does not fit {label!r} "
                                 f"({p.size} bytes incl. the 4 KB header sector)", 2)
        slots.append(p)
    return slots


# ---- blob verification ------------------------------------------------------------


def verify_blob(blob: bytes, input_dim: int | None = None,
                n_classes: int | None = None) -> rvne.Blob:
    """rvne.parse plus the device's dims; raises ProvisionError(exit 2) with
    the reason. Nothing on a device is touched before this passes."""
    try:
        parsed = rvne.parse(blob)
    except BlobError as e:
        raise ProvisionError(f"blob refused: {e.reason} (status 0x{e.status:03x}): {e}", 2) from e
    if input_dim is not None and parsed.input_dim != input_dim:
        raise ProvisionError(f"blob refused: input_dim {parsed.input_dim} but the device has "
                             f"D={input_dim}", 2)
    if n_classes is not None and parsed.n_classes != n_classes:
        raise ProvisionError(f"blob refused: n_classes {parsed.n_classes} but the device has "
                             f"C={n_classes}", 2)
    return parsed


FEATURE_SET_CSI_STATS_V1 = 1
DEFAULT_MODEL_RATE_HZ = 10.0  # Kconfig TEMPORAL_CSI_FEATURE_RATE_HZ default


def default_model(rate_hz: float = DEFAULT_MODEL_RATE_HZ) -> bytes:
    """The firmware's default model (``firmware/models/default.rvne``, what
    ``idf.py flash`` writes into ``model_a``): the docs/spec.md §5 random blob
    with the Kconfig default dimensions (D=16, 4 q / 1 kv heads, head_dim 32,
    2 layers, C=4) plus an INPUT section declaring feature set 1 (csi-stats
    v1) at ``rate_hz``. tools/make_default_model.py writes it."""
    rate_x100 = round(rate_hz * 100)
    if not 0 < rate_x100 <= 0xFFFF:
        raise RuvError(f"frame rate {rate_hz} Hz does not fit the INPUT section (u16 x100)")
    blob = rvne.parse(rvne.init_random(input_dim=16, n_q_heads=4, n_kv_heads=1, head_dim=32,
                                       n_layers=2, n_classes=4))
    blob.input = rvne.InputSection(feature_set=FEATURE_SET_CSI_STATS_V1,
                                   frame_rate_x100=rate_x100)
    return rvne.build(blob)


def model_id(blob: bytes) -> str:
    return f"{int.from_bytes(blob[-4:], 'little'):08x}"


# ---- flash access -------------------------------------------------------------------


class Flasher(Protocol):
    def read(self, addr: int, size: int) -> bytes: ...
    def write(self, addr: int, data: bytes) -> None: ...
    def reset(self) -> None: ...
    def close(self) -> None: ...


class EsptoolFlasher:
    """esptool 5.x public Python API (``esptool.cmds``): detect_chip → run_stub →
    attach_flash; write_flash / read_flash / reset_chip. The connection is
    the loader's context manager (esptool's documented way to release the
    serial port), held open in an ExitStack until :meth:`close`. Not
    exercised without a board (docs/hil.md)."""

    def __init__(self, port: str, baud: int = 460800, chip: str = "esp32s3",
                 connect_mode: str = "default-reset") -> None:
        from esptool.cmds import attach_flash, detect_chip, run_stub

        self._conn = contextlib.ExitStack()
        try:
            esp = self._conn.enter_context(
                detect_chip(port, baud=115200, connect_mode=connect_mode))
            name = str(getattr(esp, "CHIP_NAME", "?"))
            if chip != "any" and name.replace("-", "").lower() != chip.replace("-", "").lower():
                raise ProvisionError(f"{port} is an {name}, not an {chip} (use --chip any)", 3)
            esp = run_stub(esp)  # the stub loader talks over the same port
            if baud != 115200:
                esp.change_baud(baud)
            attach_flash(esp)
        except BaseException:
            self._conn.close()
            raise
        self.esp = esp
        self.chip = name

    def read(self, addr: int, size: int) -> bytes:
        from esptool.cmds import read_flash

        data = read_flash(self.esp, addr, size, output=None, no_progress=True)
        return bytes(data or b"")

    def write(self, addr: int, data: bytes) -> None:
        from esptool.cmds import write_flash

        write_flash(self.esp, [(addr, bytes(data))], no_progress=True)

    def reset(self) -> None:
        from esptool.cmds import reset_chip

        reset_chip(self.esp, "hard-reset")

    def close(self) -> None:
        try:
            self._conn.close()
        except Exception:  # noqa: BLE001 - best effort: the port may be gone already
            pass


class ImageFlasher:
    """A flash image file (NOR semantics: whole 4 KB sectors are erased
    before a write, like esptool's write_flash).

    With ``persist`` every write reaches the file at once, like a chip's flash
    (the file is replaced atomically: a temporary file, then a rename);
    without it writes stay in memory until :meth:`save`, so a run that is
    refused half way leaves the file as it was (or creates none)."""

    def __init__(self, path: Path, size: int | None = None, persist: bool = True) -> None:
        self.path = Path(path)
        self.persist = persist
        if self.path.exists():
            self.data = bytearray(self.path.read_bytes())
        elif size is not None:
            self.data = bytearray(b"\xff" * size)
        else:
            raise ProvisionError(f"{path} does not exist (give a flash size to create it)", 2)
        self.writes: list[tuple[int, int]] = []

    def read(self, addr: int, size: int) -> bytes:
        if addr < 0 or addr + size > len(self.data):
            raise ProvisionError(f"read beyond the flash image (0x{addr:x}+{size})", 3)
        return bytes(self.data[addr:addr + size])

    def write(self, addr: int, data: bytes) -> None:
        end = addr + len(data)
        if addr % ERASE_ALIGN or end > len(self.data):
            raise ProvisionError(f"bad write 0x{addr:x}+{len(data)}", 3)
        erase_end = (end + ERASE_ALIGN - 1) // ERASE_ALIGN * ERASE_ALIGN
        self.data[addr:erase_end] = b"\xff" * (erase_end - addr)
        self.data[addr:end] = data
        self.writes.append((addr, len(data)))
        if self.persist:
            self._persist()

    def save(self) -> None:
        """Write the image to its file (atomically); for ``persist=False``."""
        self._persist()

    def _persist(self) -> None:
        _replace_file(self.path, self.data)

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass


class SlotDirFlasher(ImageFlasher):
    """``ruv_vdev --slots DIR`` (slot_a.bin, slot_b.bin) seen as one flash:
    slot i at address i·slot_size. :meth:`partitions` gives the matching table."""

    def __init__(self, slots_dir: Path, slot_size: int = 1024 * 1024,
                 persist: bool = True) -> None:
        self.dir = Path(slots_dir)
        self.slot_size = slot_size
        self.persist = persist
        self.files = [self.dir / "slot_a.bin", self.dir / "slot_b.bin"]
        self.data = bytearray()
        for f in self.files:
            if f.exists():
                raw = f.read_bytes()
                if len(raw) != slot_size:
                    raise ProvisionError(f"{f} is {len(raw)} bytes, not {slot_size}", 2)
                self.data += raw
            else:
                self.data += b"\xff" * slot_size
        self.writes = []

    def partitions(self) -> list[Partition]:
        return [Partition(label, 0x01, 0x40, i * self.slot_size, self.slot_size)
                for i, label in enumerate(SLOT_LABELS)]

    def _persist(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        for i, f in enumerate(self.files):
            _replace_file(f, self.data[i * self.slot_size:(i + 1) * self.slot_size])


def _replace_file(path: Path, data: bytes | bytearray) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same
    directory and a rename: readers see the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@dataclass
class FlashResult:
    slot: int
    label: str
    offset: int
    generation: int
    previous_active: int | None
    model: str
    bytes_written: int


def provision_flash(flasher: Flasher, blob: bytes, parts: Sequence[Partition] | None = None,
                    log: Callable[[str], None] = lambda _m: None,
                    reset: bool = True) -> FlashResult:
    """The esptool/image/slots path: locate the slots by label, read their
    headers, write the inactive one (blob first with the header sector
    erased, read back; then the header sector, read back), reset."""
    verify_blob(blob)
    if parts is None:
        raw = flasher.read(PARTITION_TABLE_OFFSET, PARTITION_TABLE_MAX)
        parts = parse_partition_table(raw)
        log(f"partition table read from 0x{PARTITION_TABLE_OFFSET:x}: "
            f"{', '.join(p.label for p in parts)}")
    slots = find_slots(parts, len(blob))
    states = []
    for p in slots:
        st = parse_slot_header(flasher.read(p.offset, SLOT_HEADER_LEN), p.size)
        states.append(st)
        if st.raw:
            desc = f"factory blob (bare, generation 0), {st.blob_len} bytes"
        elif st.valid:
            desc = f"generation {st.generation}, {st.blob_len} bytes"
        else:
            desc = f"no valid model ({st.why})"
        log(f"{p.label} @0x{p.offset:x}: {desc}")
    target, gen, active = pick_target(states)
    p = slots[target]
    # keep the node's replay floor of signed models: never lower it
    floor = max((st.signed_floor for st in states if st.valid), default=0)
    image = slot_image(blob, gen, signed_floor=floor)
    body = b"\xff" * ERASE_ALIGN + image[ERASE_ALIGN:]
    log(f"writing {p.label} @0x{p.offset:x} (generation {gen}, {len(blob)} bytes)")
    flasher.write(p.offset, body)
    back = flasher.read(p.offset, len(body))
    if back != body:
        bad = next(i for i, (a, b) in enumerate(zip(back, body, strict=False)) if a != b) \
            if len(back) == len(body) else min(len(back), len(body))
        raise ProvisionError(f"read-back of {p.label} differs at +0x{bad:x}; slot left "
                             "without a valid header (the old model stays active)", 3)
    flasher.write(p.offset, image[:ERASE_ALIGN])
    if flasher.read(p.offset, ERASE_ALIGN) != image[:ERASE_ALIGN]:
        raise ProvisionError(f"read-back of the {p.label} header differs", 3)
    log("verified (read back)")
    if reset:
        flasher.reset()
    return FlashResult(target, p.label, p.offset, gen, active, model_id(blob), len(image))


# ---- console path -------------------------------------------------------------------


@dataclass
class ConsoleResult:
    slot: int
    generation: int
    model: str
    previous_model: str


def provision_console(client: Any, blob: bytes, chunk_size: int = 1984,
                      progress: Callable[[int, int], None] | None = None) -> ConsoleResult:
    """Upload over the console protocol and check that ``info`` reports the
    new model id. Verifies the blob (and the device's D/C) first."""
    info = client.info()
    verify_blob(blob, int(info["D"]), int(info["C"]))
    old = info.get("model", "none")
    try:
        r = client.load_blob(blob, chunk_size=chunk_size, progress=progress)
    except DeviceError as e:
        raise ProvisionError(f"device refused the model: status 0x{e.status:03x} "
                             f"{e.message}; the old model ({old}) stays active", 1) from e
    new = client.info()
    want = model_id(blob)
    if new.get("model") != want:
        raise ProvisionError(f"after commit the device reports model {new.get('model')}, "
                             f"expected {want}", 1)
    return ConsoleResult(int(r.get("slot", new.get("slot", "-1"))),
                         int(r.get("gen", new.get("gen", "0"))), want, old)


def write_flash_image(path: Path, blob: bytes, partition_table: bytes,
                      flash_size: int = 0x400000) -> FlashResult:
    """Creates (or updates) an emulated flash image for the ESP-IDF linux
    target: 0xFF, the binary partition table at 0x8000, the blob in the
    inactive slot."""
    fl = ImageFlasher(path, size=flash_size, persist=False)
    if fl.read(PARTITION_TABLE_OFFSET, 2) != PARTITION_MAGIC:
        fl.write(PARTITION_TABLE_OFFSET, partition_table)
    res = provision_flash(fl, blob, parse_partition_table(partition_table), reset=False)
    fl.save()  # only a complete run touches the file
    return res


__all__ = [
    "ConsoleResult",
    "EsptoolFlasher",
    "FlashResult",
    "Flasher",
    "ImageFlasher",
    "Partition",
    "ProvisionError",
    "SlotDirFlasher",
    "SlotHeader",
    "SlotState",
    "build_partition_table",
    "check_slot",
    "find_slots",
    "load_partition_table",
    "parse_partition_table",
    "parse_partitions_csv",
    "parse_slot_header",
    "pick_target",
    "provision_console",
    "provision_flash",
    "slot_header",
    "slot_image",
    "verify_blob",
    "write_flash_image",
]
