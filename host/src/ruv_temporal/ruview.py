"""RuView recordings in, this project's sessions out (docs/recording.md).

RuView's recorder writes one JSON object per line (``*.csi.jsonl``), with an
optional ``*.csi.meta.json`` beside it. ``raw_csi`` lines carry one
0xC5110001 packet (``iq_hex``: its payload, the ESP-IDF CSI buffer); other
lines (``vitals``, ``feature``, packets of other magics) are counted and
skipped. :func:`import_recording` turns a file into one
:class:`~ruv_temporal.recording.RecordedSession` per node, through the same
:class:`~ruv_temporal.recording.Recorder` a live recording uses: the
firmware's feature-rate limiter on the recorder's receive timestamps, the
driver-layout front-end, the same metadata.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruv_temporal import features
from ruv_temporal.recording import (
    DEFAULT_FEATURE_RATE_HZ,
    RecordedSession,
    Recorder,
    RecordingError,
)

SUFFIX = ".csi.jsonl"


@dataclass
class RawFrame:
    """One ``raw_csi`` line."""

    t_us: int       # host receive time, microseconds since the epoch
    node: int
    payload: bytes  # the driver's CSI buffer
    rssi: int


@dataclass
class JsonlReport:
    """What a ``.csi.jsonl`` file held."""

    path: str
    lines: int = 0
    raw_csi: Counter[int] = field(default_factory=Counter)    # frames per node
    skipped: Counter[str] = field(default_factory=Counter)   # non-CSI lines by type/magic
    bad: Counter[str] = field(default_factory=Counter)       # unusable lines by reason

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "lines": self.lines,
                "raw_csi": {str(k): v for k, v in sorted(self.raw_csi.items())},
                "skipped": dict(sorted(self.skipped.items())),
                "bad": dict(sorted(self.bad.items()))}


def meta_path(path: str | Path) -> Path:
    """``x.csi.jsonl`` -> ``x.csi.meta.json`` (RuView's name for the metadata)."""
    p = Path(path)
    name = p.name[:-len(".jsonl")] if p.name.endswith(".jsonl") else p.name
    return p.with_name(name + ".meta.json")


def read_meta(path: str | Path) -> dict[str, Any] | None:
    """The metadata beside a recording, None if there is none."""
    m = meta_path(path)
    if not m.exists():
        return None
    try:
        data = json.loads(m.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordingError(f"{m}: cannot read RuView metadata: {exc}") from exc
    if not isinstance(data, dict):
        raise RecordingError(f"{m}: RuView metadata is not a JSON object")
    return data


def read_jsonl(path: str | Path) -> tuple[list[RawFrame], JsonlReport]:
    """Every ``raw_csi`` frame of a RuView recording, in file order."""
    p = Path(path)
    rep = JsonlReport(str(p))
    frames: list[RawFrame] = []
    try:
        fh = p.open("r", encoding="utf-8", errors="replace")
    except OSError as exc:
        raise RecordingError(f"{p}: cannot read: {exc.strerror or exc}") from exc
    with fh:
        for line in fh:
            if not line.strip():
                continue
            rep.lines += 1
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                rep.bad["not JSON"] += 1
                continue
            if not isinstance(d, dict):
                rep.bad["not an object"] += 1
                continue
            kind = d.get("type")
            if kind != "raw_csi":
                rep.skipped[str(kind or d.get("magic") or "untyped")] += 1
                continue
            try:
                payload = bytes.fromhex(d["iq_hex"])
                node, rssi, ts = int(d["node_id"]), int(d.get("rssi", 0)), float(d["timestamp"])
            except (KeyError, TypeError, ValueError):
                rep.bad["raw_csi with missing or malformed fields"] += 1
                continue
            if not (0 <= node <= 255 and -128 <= rssi <= 127) or ts != ts:
                rep.bad["raw_csi field out of range"] += 1
                continue
            frames.append(RawFrame(int(round(ts * 1e6)), node, payload, rssi))
            rep.raw_csi[node] += 1
    return frames, rep


@dataclass
class ImportResult:
    sessions: list[RecordedSession]
    report: JsonlReport
    recorder: Recorder


def import_recording(path: str | Path, label: str | None = None, *,
                     rate_hz: int | None = DEFAULT_FEATURE_RATE_HZ,
                     secondary: int | str = features.SECOND_NONE, raw: bool = False,
                     label_names: list[str] | None = None) -> ImportResult:
    """One RuView recording -> one session per node. ``label`` defaults to the
    metadata's ``label``; the noise floor is not in the file and is taken as 0."""
    meta = read_meta(path)
    if label is None:
        label = str(meta.get("label") or "") if meta else ""
        if not label:
            raise RecordingError(f"{path}: no --label given and no label in {meta_path(path)}")
    frames, rep = read_jsonl(path)
    rec = Recorder(label, raw=raw, kind="raw", source=f"ruview:{Path(path).name}",
                   rate_hz=rate_hz, secondary=secondary, label_names=label_names)
    seq: Counter[int] = Counter()
    for f in frames:
        seq[f.node] += 1
        rec.add_raw_csi(f.node, seq[f.node], f.payload, f.rssi, 0, f.t_us)
    sessions = rec.sessions()
    for s in sessions:
        s.meta["timestamps"] = "host receive time of RuView's recorder (us since epoch)"
        s.meta["noise_floor"] = "not recorded (0)"
        s.meta["import"] = rep.to_json()
        if meta is not None:
            s.meta["ruview_meta"] = meta
    return ImportResult(sessions, rep, rec)


def session_file_name(path: str | Path, session: RecordedSession) -> str:
    name = Path(path).name
    stem = name[:-len(SUFFIX)] if name.endswith(SUFFIX) else Path(name).stem
    return f"{session.label}_{stem}_node{session.node}.npz"
