"""``ruv-temporal hil``: compare a device with the NumPy reference, frame by frame.

Exit codes: 0 agreement, 1 mismatch (the per-layer report says where),
2 usage or bad input (e.g. an invalid --model), 3 device or I/O error.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import click

from . import EXIT_CHECK_FAILED, EXIT_DEVICE, EXIT_USAGE

EPILOG = """\b
Examples:
  ruv-temporal hil --vdev                          # virtual device, seeded model
  ruv-temporal hil --vdev --mode stream --fp16 --frames 20000
  ruv-temporal hil --port /dev/ttyACM0 --model my.rvne
  ruv-temporal vdev pty --model m.rvne &           # prints "PTY /dev/pts/N"
  ruv-temporal hil --port /dev/pts/N --model m.rvne
  ruv-temporal hil --port /dev/ttyUSB0 --exact --mode stream --fp16

\b
What it does: streams N seeded synthetic frames (csi-stats features of
synthetic CSI for D=16, seeded normal frames otherwise) into the device,
classifies every K frames and compares ALL logits with the NumPy reference
(ruv_temporal.model) run on the same frames in the same mode: |diff| <=
tolerance (1e-4, docs/spec.md §10) and identical argmax. On a mismatch it replays the
frames to find the first diverging frame and prints, per stage, the max abs
difference of the residual state read with the console's `layer` command:

\b
  layer 0  OK       maxdiff=0.000e+00   (normalised input)
  layer 1  OK       maxdiff=1.192e-07
  layer 2  MISMATCH maxdiff=2.500e-01
  logits   MISMATCH maxdiff=3.100e-01   argmax device=1 reference=3

\b
--exact also runs the host build of the C core (libruv_temporal, the same
blob, frames, mode and KV-cache format) and compares the device's logits
and `layer` states at every classification with it bit for bit. Per stage
it prints "OK, 0 differing values" or the count of differing values and
bits and the first differing frame and index with both hex bit patterns;
any difference exits 1. (The virtual device runs that very C: 0 differing
bits. A board or an emulated chip shows whether its compiler, libm and FPU
give the same bits.)

\b
The console link resends lost or garbled lines (protocol 2, docs/protocol.md);
the report's "link:" line counts the recoveries (--no-recover: protocol 1).

\b
The device must run the model the reference uses: --model FILE is uploaded
over the console when the device's `info` model id differs (--no-upload
refuses instead); without --model a seeded model (--seed) is used the same
way. Exit codes: 0 agree, 1 mismatch, 2 usage, 3 device/I-O error.
"""


def _fail(msg: str, code: int) -> None:
    click.echo(f"error: {msg}", err=True)
    sys.exit(code)


def _read_blob(path: Path) -> bytes:
    from ruv_temporal import rvne
    from ruv_temporal.errors import BlobError

    try:
        return rvne.read_blob_file(path)
    except OSError as e:
        _fail(f"cannot read {path}: {e.strerror or e}", EXIT_USAGE)
    except BlobError as e:
        _fail(str(e), EXIT_USAGE)
    raise AssertionError("unreachable")


@click.command(epilog=EPILOG, context_settings={"max_content_width": 100})
@click.option("--port", help="serial port of the device (a board, or a vdev pty)")
@click.option("--vdev", "use_vdev", is_flag=True,
              help="start a virtual device (ruv_vdev --pty) and test it")
@click.option("--frames", "n_frames", type=click.IntRange(1), default=5000, show_default=True,
              help="frames to stream")
@click.option("--mode", type=click.Choice(["window", "stream"]), default="window",
              show_default=True, help="run mode (docs/spec.md §4.2); switched with `mode`")
@click.option("--fp16", is_flag=True, help="FP16 KV cache (stream mode)")
@click.option("--model", "model_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="RVNE blob the device must run (uploaded if it runs another)")
@click.option("--no-upload", is_flag=True,
              help="never upload; fail if the device runs another model")
@click.option("--classify-every", type=click.IntRange(1), default=50, show_default=True,
              help="classify after every K frames (and after the last)")
@click.option("--seed", type=int, default=1, show_default=True,
              help="seed of the frames (and of the model without --model)")
@click.option("--source", type=click.Choice(["auto", "csi", "random"]), default="auto",
              show_default=True, help="frame generator")
@click.option("--tolerance", type=float, default=1e-4, show_default=True,
              help="max abs logit difference")
@click.option("--window-len", type=click.IntRange(32, 1024), default=64, show_default=True,
              help="N of the virtual device (--vdev only; a board has its Kconfig N)")
@click.option("--timeout", type=float, default=15.0, show_default=True,
              help="seconds to wait for one reply")
@click.option("--exact", is_flag=True,
              help="also compare logits and every layer state with the host build of the C "
                   "core (libruv_temporal), bit for bit: zero tolerance")
@click.option("--link-timeout", type=float, default=2.0, show_default=True,
              help="seconds without a reply before the request is resent (docs/protocol.md)")
@click.option("--no-recover", is_flag=True,
              help="protocol 1: no resends (a lost line fails the run)")
@click.option("--reference-model", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              hidden=True, help="self-check: give the reference another model than the device")
def hil(port: str | None, use_vdev: bool, n_frames: int, mode: str, fp16: bool,
        model_path: Path | None, no_upload: bool, classify_every: int, seed: int, source: str,
        tolerance: float, window_len: int, timeout: float, exact: bool, link_timeout: float,
        no_recover: bool, reference_model: Path | None) -> None:
    """Run the HIL comparison against a device and print the per-layer report."""
    from ruv_temporal import hil as engine
    from ruv_temporal import provision
    from ruv_temporal.device import DeviceClient, SerialTransport
    from ruv_temporal.errors import DeviceError, RuvError

    if bool(port) == bool(use_vdev):
        _fail("give exactly one of --port PORT or --vdev", EXIT_USAGE)
    if fp16 and mode != "stream":
        click.echo("note: --fp16 only affects stream mode", err=True)
    blob: bytes | None = None
    if model_path is not None:
        blob = _read_blob(model_path)
        try:
            provision.verify_blob(blob)
        except provision.ProvisionError as e:
            _fail(f"{model_path}: {e}", EXIT_USAGE)
    ref_blob = _read_blob(reference_model) if reference_model is not None else None

    proc = None
    tmp = None
    client = None
    try:
        if use_vdev:
            if blob is None:
                blob = engine.seeded_model(seed)
            tmp = tempfile.TemporaryDirectory(prefix="ruv-hil-")
            mpath = Path(tmp.name) / "model.rvne"
            mpath.write_bytes(blob)
            proc = engine.VdevProcess("--model", str(mpath), "--window-len", str(window_len))
            click.echo(f"virtual device on {proc.port} (pid {proc.pid})", err=True)
            port = proc.port
        assert port is not None
        client = DeviceClient(SerialTransport(port), timeout=timeout, recover=not no_recover,
                              link_timeout=link_timeout)
        engine.sync(client)
        info = client.info()
        d, c = int(info["D"]), int(info["C"])
        if blob is None:
            blob = engine.seeded_model(seed, d, c)
        try:
            provision.verify_blob(blob, d, c)
        except provision.ProvisionError as e:
            _fail(str(e), EXIT_USAGE)
        want = provision.model_id(blob)
        if info.get("model") != want:
            if no_upload:
                _fail(f"device runs model {info.get('model')}, not {want} (--no-upload)",
                      EXIT_DEVICE)
            click.echo(f"uploading model {want} (device ran {info.get('model')})", err=True)
            provision.provision_console(client, blob)
        frames = engine.synthetic_frames(n_frames, d, seed=seed, source=source, blob=blob)

        def progress(done: int, total: int) -> None:
            if done == total or done % (classify_every * 20) < classify_every:
                click.echo(f"  {done}/{total} frames", err=True)

        result = engine.compare(client, blob, frames, mode=mode, kv_fp16=fp16,
                                classify_every=classify_every, atol=tolerance,
                                reference_blob=ref_blob, timeout=max(timeout, 10.0),
                                progress=progress, exact=exact)
    except provision.ProvisionError as e:
        _fail(str(e), e.exit_code)
        return
    except (DeviceError, OSError) as e:
        _fail(f"device: {e}", EXIT_DEVICE)
        return
    except RuvError as e:
        _fail(str(e), EXIT_DEVICE)
        return
    except ImportError as e:
        _fail(f"{e} (is pyserial installed?)", EXIT_DEVICE)
        return
    finally:
        if client is not None:
            client.close()
        if proc is not None:
            proc.close()
        if tmp is not None:
            tmp.cleanup()
    click.echo(result.report())
    sys.exit(0 if result.ok else EXIT_CHECK_FAILED)
