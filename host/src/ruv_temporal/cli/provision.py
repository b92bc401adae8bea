"""``ruv-temporal provision``: put an RVNE model into a device's inactive slot.

Exit codes: 0 provisioned (and verified); 1 the device refused the model or
did not report it afterwards; 2 usage or bad input (the blob is refused by
``rvne.parse`` before anything is touched, a partition table without the
slots, a blob larger than a slot); 3 device or I/O error.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path
from typing import Any

import click

from . import EXIT_DEVICE, EXIT_USAGE

EPILOG = """\b
Examples:
  ruv-temporal provision --port /dev/ttyACM0 model.rvne            # console upload
  ruv-temporal provision --port /dev/ttyACM0 --via esptool model.rvne
  ruv-temporal provision --port /dev/ttyACM0 --via esptool \\
      --partition-table build/partition_table/partition-table.bin model.rvne
  ruv-temporal provision --via image --output build/flash.bin \\
      --partition-table build/partition_table/partition-table.bin model.rvne
  ruv-temporal provision --via slots --slots /tmp/vdev-slots model.rvne
  ruv-temporal provision --mqtt mqtt://broker.lan --node 3 model.rvsg   # signed, over MQTT
  ruv-temporal provision --mqtt mqtts://u:pw@broker.lan --ca ca.crt --node 3 \\
      --key model-signing.pem --generation 4 model.rvne              # sign and send

\b
Every path first verifies the blob (ruv_temporal.rvne.parse; over the
console also the device's D and C) and refuses with the reason before
anything is written.
  console  load begin/chunk/commit over the console protocol (the app writes
           the inactive slot, checks CRC and shape, writes the header last);
           then `info` must report the new model id.
  esptool  raw flash: partition table from 0x8000 (or --partition-table),
           slots model_a/model_b by label, the inactive slot (slot headers on
           flash, docs/model-slots.md) gets the blob with its header sector
           erased, read back, then the header sector, read back; then reset,
           and (unless --no-check) `info` over the console must report it.
  image    the same on a flash image file (ESP-IDF linux target:
           RUV_LINUX_FLASH_IMAGE); created (0xFF + partition table) if absent.
  slots    the same on ruv_vdev --slots DIR files (slot_a.bin, slot_b.bin).
  --mqtt   publish the signed envelope (docs/blob-format.md) to
           <prefix>/<node>/model/set and wait for <prefix>/<node>/model/status;
           exit 0 when the node reports ok with this model's CRC, 1 with its
           reason when it refuses (docs/fleet.md).

\b
Exit codes: 0 provisioned and verified; 1 the device refused the model (its
status code is printed) or does not report it afterwards; 2 bad input (the
blob is refused before anything is touched, no model_a/model_b partition,
blob larger than a slot); 3 device or I/O error.
"""


def _fail(msg: str, code: int) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(code)


_MB = 1024 * 1024
FLASH_SIZES = [1 << k for k in range(20, 28)]  # 1 MB .. 128 MB, what esptool knows
MAX_SLOT = 16 * _MB


def parse_size(text: str) -> int | None:
    """Bytes of ``4MB``, ``4M``, ``512K``, ``4096``, ``0x1000`` (K/M = 1024/1024²);
    None when ``text`` is not such a size."""
    m = re.fullmatch(r"\s*(0[xX][0-9a-fA-F]+|\d+)\s*([kKmM]?)[bB]?\s*", text)
    if m is None:
        return None
    return int(m.group(1), 0) * {"": 1, "K": 1024, "M": _MB}[m.group(2).upper()]


class FlashSize(click.ParamType):
    name = "SIZE"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        n = parse_size(str(value))
        if n not in FLASH_SIZES:
            self.fail(f"{value!r} is not a flash size: one of "
                      f"{', '.join(f'{s // _MB}MB' for s in FLASH_SIZES)}", param, ctx)
        return n


class SlotSize(click.ParamType):
    name = "SIZE"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        n = parse_size(str(value))
        if n is None or n % 4096 or not 8192 <= n <= MAX_SLOT:
            self.fail(f"{value!r} is not a slot size: a multiple of 4K from 8K to "
                      f"{MAX_SLOT // _MB}MB (e.g. 1MB, 512K, 0x100000)", param, ctx)
        return n


@click.command(epilog=EPILOG, context_settings={"max_content_width": 100})
@click.argument("model", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--port", help="serial port of the device (console / esptool)")
@click.option("--via", type=click.Choice(["console", "esptool", "image", "slots"]),
              default="console", show_default=True, help="how to write the slot")
@click.option("--partition-table", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="partition-table.bin or partitions.csv (esptool: instead of reading 0x8000; "
                   "image: required for a new image)")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="flash image file (--via image)")
@click.option("--flash-size", type=FlashSize(), default="4MB", show_default=True,
              help="size of a new image (1MB .. 128MB)")
@click.option("--slots", "slots_dir", type=click.Path(file_okay=False, path_type=Path),
              help="ruv_vdev --slots directory (--via slots)")
@click.option("--slot-size", type=SlotSize(), default="1MB", show_default=True,
              help="ruv_vdev --slot-size (--via slots)")
@click.option("--baud", type=int, default=460800, show_default=True, help="esptool baud rate")
@click.option("--chip", default="esp32s3", show_default=True,
              help="expected chip (esptool; 'any' to skip the check)")
@click.option("--chunk-size", type=click.IntRange(1, 2016), default=1984, show_default=True,
              help="bytes per `load chunk` (console)")
@click.option("--timeout", type=float, default=10.0, show_default=True,
              help="seconds to wait for one console reply")
@click.option("--no-check", is_flag=True,
              help="esptool: do not check `info` over the console after the reset")
@click.option("--quiet", "-q", is_flag=True, help="no progress output")
@click.option("--mqtt", "mqtt_url", default=None,
              help="send over MQTT to a node: mqtt://[user:pw@]HOST[:PORT] or mqtts://...")
@click.option("--node", default=None, help="--mqtt: node id (topic <prefix>/<node>/...)")
@click.option("--mqtt-prefix", default="ruv", show_default=True, help="--mqtt: topic prefix")
@click.option("--ca", "ca_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="--mqtt: CA certificate of an mqtts:// broker")
@click.option("--key", "key_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="--mqtt: private key to sign a bare blob with")
@click.option("--generation", type=click.IntRange(1, 0xFFFFFFFF), default=None,
              help="--mqtt with --key: generation of the envelope")
def provision(model: Path, port: str | None, via: str, partition_table: Path | None,
              output: Path | None, flash_size: int, slots_dir: Path | None, slot_size: int,
              baud: int, chip: str, chunk_size: int, timeout: float, no_check: bool,
              quiet: bool, mqtt_url: str | None, node: str | None, mqtt_prefix: str,
              ca_file: Path | None, key_path: Path | None, generation: int | None) -> None:
    """Verify MODEL (an RVNE blob, or a signed envelope for --mqtt) and write
    it into the inactive model slot."""
    from ruv_temporal import provision as pv
    from ruv_temporal import rvne
    from ruv_temporal.errors import DeviceError, RuvError

    def log(msg: str) -> None:
        if not quiet:
            click.echo(msg, err=True)

    if mqtt_url is not None:
        _mqtt(model, mqtt_url, node, mqtt_prefix, ca_file, key_path, generation, timeout, log)
        return

    try:
        blob = rvne.read_blob_file(model)
    except OSError as e:
        _fail(f"cannot read {model}: {e.strerror or e}", EXIT_DEVICE)
        return
    except RuvError as e:
        _fail(str(e), EXIT_USAGE)
        return
    try:
        parsed = pv.verify_blob(blob)
    except pv.ProvisionError as e:
        _fail(f"{model}: {e}", EXIT_USAGE)
        return
    log(f"{model}: model {pv.model_id(blob)}, {len(blob)} bytes, D={parsed.input_dim} "
        f"C={parsed.n_classes} layers={parsed.n_layers}"
        + (f", feature set {parsed.input.feature_set}" if parsed.input else ""))
    parts = None
    try:
        if partition_table is not None:
            parts = pv.load_partition_table(partition_table)
        if via in ("console", "esptool") and not port:
            _fail(f"--via {via} needs --port", EXIT_USAGE)
        if via == "console":
            _console(pv, port, blob, chunk_size, timeout, quiet, log)
        elif via == "esptool":
            fl = pv.EsptoolFlasher(str(port), baud=baud, chip=chip)
            try:
                log(f"connected: {fl.chip}")
                res = pv.provision_flash(fl, blob, parts, log=log)
            finally:
                fl.close()
            log(f"wrote {res.label} (generation {res.generation}); chip reset")
            if not no_check:
                _check_console(pv, str(port), blob, timeout, log)
        elif via == "image":
            if output is None:
                _fail("--via image needs --output FILE", EXIT_USAGE)
            assert output is not None
            # in memory until the run succeeds: a refusal leaves the file as it was
            fl = pv.ImageFlasher(output, size=flash_size, persist=False)
            if fl.read(pv.PARTITION_TABLE_OFFSET, 2) != pv.PARTITION_MAGIC:
                if partition_table is None:
                    _fail(f"{output} has no partition table at 0x8000: give --partition-table",
                          EXIT_USAGE)
                assert parts is not None
                fl.write(pv.PARTITION_TABLE_OFFSET, pv.build_partition_table(parts))
            res = pv.provision_flash(fl, blob, parts, log=log, reset=False)
            fl.save()
            log(f"{output}: {res.label} @0x{res.offset:x} generation {res.generation}")
        else:
            if slots_dir is None:
                _fail("--via slots needs --slots DIR", EXIT_USAGE)
            assert slots_dir is not None
            sf = pv.SlotDirFlasher(slots_dir, slot_size, persist=False)
            res = pv.provision_flash(sf, blob, sf.partitions(), log=log, reset=False)
            sf.save()
            log(f"{slots_dir}: {res.label} generation {res.generation}")
    except pv.ProvisionError as e:
        _fail(str(e), e.exit_code)
    except DeviceError as e:
        _fail(f"device: {e}", EXIT_DEVICE)
    except (OSError, RuvError) as e:
        _fail(str(e), EXIT_DEVICE)
    except Exception as e:  # esptool's FatalError and friends
        if type(e).__module__.startswith("esptool"):
            _fail(f"esptool: {e}", EXIT_DEVICE)
        raise
    click.echo(f"provisioned model {pv.model_id(blob)}")


def _console(pv, port, blob, chunk_size, timeout, quiet, log) -> None:  # type: ignore[no-untyped-def]
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from ruv_temporal import hil
    from ruv_temporal.device import DeviceClient, SerialTransport

    client = DeviceClient(SerialTransport(port), timeout=timeout)
    try:
        hil.sync(client)
        with Progress(TextColumn("upload"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      TimeRemainingColumn(), disable=quiet, transient=False) as bar:
            task = bar.add_task("upload", total=len(blob))
            res = pv.provision_console(client, blob, chunk_size=chunk_size,
                                       progress=lambda done, _t: bar.update(task, completed=done))
        log(f"slot {res.slot}, generation {res.generation}; info reports model {res.model} "
            f"(was {res.previous_model})")
    finally:
        client.close()


def _check_console(pv, port: str, blob: bytes, timeout: float, log) -> None:  # type: ignore[no-untyped-def]
    from ruv_temporal import hil
    from ruv_temporal.device import DeviceClient, SerialTransport

    client = DeviceClient(SerialTransport(port), timeout=timeout)
    try:
        hil.sync(client, attempts=40)
        info = client.info()
    finally:
        client.close()
    if info.get("model") != pv.model_id(blob):
        raise pv.ProvisionError(f"written and read back, but after the reset the device reports "
                                f"model {info.get('model')} (slot {info.get('slot')}): check the "
                                "boot log (shape or feature set refused?)", 1)
    log(f"device reports model {info['model']} from slot {info.get('slot')} "
        f"(generation {info.get('gen')})")


def _mqtt(model: Path, url: str, node: str | None, prefix: str, ca_file: Path | None,
          key_path: Path | None, generation: int | None, timeout: float, log) -> None:  # type: ignore[no-untyped-def]
    """Signed upload over MQTT; the node's model/status decides the exit code."""
    import json
    import queue

    from ruv_temporal import fleet, rvne, signing
    from ruv_temporal.errors import BlobError, RuvError

    if node is None:
        _fail("--mqtt needs --node", EXIT_USAGE)
    data = model.read_bytes()
    if signing.is_envelope(data):
        if key_path is not None:
            _fail(f"{model} is already signed; drop --key", EXIT_USAGE)
        try:
            env = signing.parse(data)
        except signing.SignError as e:
            _fail(f"{model}: {e.reason}: {e}", EXIT_USAGE)
        blob, envelope = env.blob, data
        generation = env.generation
    else:
        if key_path is None or generation is None:
            _fail(f"{model} is not signed: give --key and --generation (or sign it with "
                  "`ruv-temporal blob sign`)", EXIT_USAGE)
        try:
            key = signing.load_private_key(key_path)
        except (RuvError, ValueError, TypeError) as e:
            _fail(f"{key_path}: {e}", EXIT_USAGE)
        blob = data
        envelope = b""
    try:
        crc = rvne.parse(blob).crc32
    except BlobError as e:
        _fail(f"{model}: the blob inside is rejected: {e.reason}: {e}", EXIT_USAGE)
    if not envelope:
        envelope = signing.sign(blob, key, int(generation))  # type: ignore[arg-type]
    replies: queue.Queue[dict] = queue.Queue()
    status_topic = fleet.model_status_topic(prefix, node)

    def on_message(client, userdata, msg):  # type: ignore[no-untyped-def]
        if msg.retain:  # a status from before this upload
            return
        try:
            replies.put(json.loads(msg.payload))
        except ValueError:
            log(f"ignoring malformed status: {msg.payload[:80]!r}")

    try:
        client = fleet.connect(url, ca_file=str(ca_file) if ca_file else None,
                               on_message=on_message, subscribe=[status_topic], timeout=timeout)
    except fleet.FleetError as e:
        _fail(str(e), EXIT_DEVICE)
    try:
        time.sleep(0.2)  # let the SUBACK arrive before the node can answer
        log(f"{model}: model 0x{crc:08X} generation {generation}, {len(envelope)} bytes "
            f"-> {fleet.model_set_topic(prefix, node)}")
        info = client.publish(fleet.model_set_topic(prefix, node), envelope, qos=1)
        info.wait_for_publish(timeout=timeout)
        try:
            st = replies.get(timeout=timeout)
        except queue.Empty:
            _fail(f"no model/status from node {node} within {timeout:.0f} s", EXIT_DEVICE)
    finally:
        client.loop_stop()
        client.disconnect()
    click.echo(json.dumps(st))
    if st.get("ok") and st.get("model_crc", "").lower() == f"0x{crc:08x}":
        click.echo(f"provisioned model 0x{crc:08X} generation {generation} on node {node}")
        return
    _fail(f"node {node} refused: {st.get('reason')}", 1)
