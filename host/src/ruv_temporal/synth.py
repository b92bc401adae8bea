"""Physically motivated synthetic WiFi CSI (docs/synthetic-data.md).

A 20 MHz channel (64-point OFDM, 312.5 kHz spacing, carrier 2437 MHz) sees
a room: a few static propagation paths (random delays and gains per room
seed) plus, when a person is present, dynamic paths whose length changes
with the activity (chest motion, walking, a waving hand, a fall). The
receiver adds a random common phase and timing offset per packet, thermal
noise, AGC gain jitter and int8 quantisation; packets get lost; RSSI drifts.
Output frames are what the feature front-end takes (int8 I/Q per
subcarrier, ascending frequency order, guard and DC subcarriers 0);
:meth:`Session.to_packets` turns them into 0xC5110001 packets carrying the
driver's buffer, as a node sends them (20 MHz channel, L-LTF only).

Main entry points: :func:`generate_session` (one labelled session),
:func:`make_dataset` (windows of csi-stats v1 features with labels and room
ids, for held-out-room splits) and :data:`ACTIVITIES`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from ruv_temporal import features
from ruv_temporal.errors import RuvError

ACTIVITIES: tuple[str, ...] = ("absent", "still", "breathing", "walking", "gesturing", "falling")
"""Class names, in the fixed order of the label indices."""

N_SUBCARRIERS = 64
SUBCARRIER_SPACING_HZ = 312.5e3
CARRIER_HZ = 2.437e9
FREQ_MHZ = 2437
SPEED_OF_LIGHT = 299_792_458.0
SUBCARRIER_INDEX = np.arange(-N_SUBCARRIERS // 2, N_SUBCARRIERS // 2)
"""Subcarrier index of each frame column (ascending frequency)."""
FALL_HOLD_S = 5.0
"""Frames from a fall's onset until this many seconds later are labelled
"falling" (the fall is in view of a window of >= 5 s); "still" otherwise."""
NULL_SUBCARRIERS = (np.abs(SUBCARRIER_INDEX) > 26) | (SUBCARRIER_INDEX == 0)
"""Guard bands and DC of the 20 MHz HT-LTF/LLTF layout: 52 used of 64."""
_FREQ = SUBCARRIER_INDEX * SUBCARRIER_SPACING_HZ  # baseband offset of each subcarrier
_RF = CARRIER_HZ + _FREQ


class SynthError(RuvError):
    """Bad argument to the synthetic data generator."""


def _room_rng(room_seed: int) -> np.random.Generator:
    return np.random.default_rng([0x5EED_C511, int(room_seed)])


@dataclass(frozen=True)
class Room:
    """A room's propagation and receiver parameters, derived from its seed."""

    seed: int
    static_gain: npt.NDArray[np.complex128]  # [P] complex gains of the static paths
    static_delay_s: npt.NDArray[np.float64]  # [P] delays
    person_path_m: float      # length of the TX -> person -> RX path at rest
    body_gain: float          # |body path| relative to the static channel RMS
    echo_extra_m: float       # extra length of the person's echo via a wall
    echo_gain: float          # |echo| relative to the direct body path
    rssi_dbm: float           # mean RSSI with the room empty
    noise_floor_dbm: int
    snr_db: float             # per-subcarrier SNR of the CSI estimate
    loss_prob: float          # packet loss probability (plus short bursts)
    agc_jitter_db: float      # std of the per-packet AGC gain error
    target_amp: float         # RMS int8 amplitude the AGC aims at
    sto_ns: float             # std of the per-packet timing offset

    @classmethod
    def from_seed(cls, room_seed: int) -> Room:
        r = _room_rng(room_seed)
        n_paths = int(r.integers(3, 8))
        los_m = r.uniform(2.0, 8.0)
        excess_ns = np.concatenate([[0.0], np.sort(r.exponential(40.0, n_paths - 1)) + 3.0])
        decay_ns = r.uniform(25.0, 60.0)
        mag = np.exp(-excess_ns / decay_ns) * np.concatenate(
            [[1.0], r.rayleigh(0.6, n_paths - 1)])
        gain = mag * np.exp(1j * r.uniform(0, 2 * np.pi, n_paths))
        delay = los_m / SPEED_OF_LIGHT + excess_ns * 1e-9
        return cls(
            seed=int(room_seed),
            static_gain=gain,
            static_delay_s=delay,
            person_path_m=float(los_m + r.uniform(2.0, 10.0)),
            echo_extra_m=float(r.uniform(4.0, 15.0)),
            echo_gain=float(r.uniform(0.4, 0.8)),
            body_gain=float(10 ** (r.uniform(-11.0, -4.0) / 20)),
            rssi_dbm=float(r.uniform(-72.0, -40.0)),
            noise_floor_dbm=int(r.integers(-97, -89)),
            snr_db=float(r.uniform(28.0, 38.0)),
            loss_prob=float(r.uniform(0.0, 0.05)),
            agc_jitter_db=float(r.uniform(0.15, 0.6)),
            target_amp=float(r.uniform(18.0, 40.0)),
            sto_ns=float(r.uniform(5.0, 25.0)),
        )

    def static_channel(self) -> npt.NDArray[np.complex128]:
        """Static channel over the 64 subcarriers."""
        ph = np.exp(-2j * np.pi * _FREQ[:, None] * self.static_delay_s[None, :])
        return ph @ self.static_gain


@dataclass
class Session:
    """One synthetic (or recorded) session of raw CSI frames.

    ``iq`` int8 [T][n_sc][2]; ``rssi``/``noise_floor`` int8 [T] (dBm);
    ``labels`` int64 [T] indices into :data:`ACTIVITIES`; ``timestamps_us``
    int64 [T]; ``seq`` uint32 [T] (gaps = lost packets). ``events`` holds
    frame indices of scripted events (``fall_onset``, ``fall_end``)."""

    activity: str
    room_seed: int
    rate_hz: float
    iq: npt.NDArray[np.int8]
    rssi: npt.NDArray[np.int8]
    noise_floor: npt.NDArray[np.int8]
    labels: npt.NDArray[np.int64]
    timestamps_us: npt.NDArray[np.int64]
    seq: npt.NDArray[np.uint32]
    freq_mhz: int = FREQ_MHZ
    events: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.iq.shape[0])

    def features(self) -> npt.NDArray[np.float32]:
        """csi-stats v1 features [T][16] (NumPy mirror of the C front-end)."""
        return features.csi_stats(self.iq, self.rssi, self.noise_floor)

    def to_packets(self, node_id: int = 1) -> list[bytes]:
        """The frames as 0xC5110001 raw CSI packets (one antenna), the payload
        the ESP-IDF CSI buffer of an L-LTF-only frame on a 20 MHz channel
        (:func:`ruv_temporal.features.esp_from_lltf`), as a node sends it."""
        from ruv_temporal import packets

        return [
            packets.encode_raw_csi(
                node_id=node_id, seq=int(self.seq[t]),
                iq=np.frombuffer(features.esp_from_lltf(self.iq[t]), np.int8),
                rssi=int(self.rssi[t]),
                noise_floor=int(self.noise_floor[t]), freq_mhz=self.freq_mhz, n_antennas=1)
            for t in range(len(self))
        ]


def _smooth_noise(r: np.random.Generator, n: int, rate_hz: float, corner_hz: float,
                  std: float) -> npt.NDArray[np.float64]:
    """Low-pass Gaussian noise (one-pole response as a truncated FIR), scaled to ``std``."""
    a = float(np.exp(-2 * np.pi * corner_hz / rate_hz))
    taps = a ** np.arange(max(1, int(np.ceil(np.log(1e-4) / np.log(a))) if a > 0 else 1))
    w = r.normal(0.0, 1.0, n + taps.size)
    y = np.convolve(w, taps, mode="valid")[:n]
    s = float(y.std())
    return y * (std / s) if s > 0 else y


def _dynamic_paths(activity: str, room: Room, t: npt.NDArray[np.float64], rate_hz: float,
                   r: np.random.Generator) -> tuple[npt.NDArray[np.float64],
                                                    npt.NDArray[np.complex128], dict[str, float]]:
    """Path lengths L [T][P] (m) and complex gains g [T][P] of the moving paths."""
    n = t.size
    info: dict[str, float] = {}
    if activity == "absent":
        return np.zeros((n, 0)), np.zeros((n, 0), complex), info
    base = room.person_path_m + r.uniform(-0.5, 0.5)
    g0 = room.body_gain * r.uniform(0.8, 1.25) * np.exp(1j * r.uniform(0, 2 * np.pi))
    sway = _smooth_noise(r, n, rate_hz, 0.3, r.uniform(0.5e-3, 1.5e-3))
    # normal quiet breathing of a present person: 1.5-3 mm chest, 0.2-0.4 Hz
    f_b = r.uniform(0.2, 0.4)
    quiet = 2 * r.uniform(1.5e-3, 3e-3) * np.sin(2 * np.pi * f_b * t + r.uniform(0, 2 * np.pi))
    if activity == "still":
        length = base + sway + quiet
        return length[:, None], np.full((n, 1), g0), info
    if activity == "breathing":
        f_b = r.uniform(0.1, 0.5)
        depth = r.uniform(4e-3, 10e-3)  # chest displacement; the path changes by twice it
        breath = 2 * depth * np.sin(2 * np.pi * f_b * t + r.uniform(0, 2 * np.pi))
        info["breath_hz"] = f_b
        return (base + sway + breath)[:, None], np.full((n, 1), g0), info
    if activity == "walking":
        v = r.uniform(0.7, 1.4)
        span = r.uniform(2.0, 4.0)
        proj = r.uniform(0.5, 1.0)  # path length change per metre walked
        pos = np.abs(((v * t + r.uniform(0, 2 * span)) % (2 * span)) - span)  # back and forth
        body = base - 1.0 + proj * 2 * pos
        step_hz = r.uniform(1.6, 2.2)
        limbs = body + 0.25 * np.sin(2 * np.pi * step_hz * t)
        g_body = g0 * (base / body)  # weaker further away
        g_limbs = 0.35 * g_body * np.exp(1j * 1.3)
        info["speed_mps"] = v
        return np.stack([body, limbs], 1), np.stack([g_body, g_limbs], 1), info
    if activity == "gesturing":
        f_g = r.uniform(1.0, 2.0)
        amp = r.uniform(0.08, 0.25) * (1 + 0.3 * _smooth_noise(r, n, rate_hz, 0.2, 1.0))
        hand = base - r.uniform(0.2, 0.6) + amp * np.sin(2 * np.pi * f_g * t)
        g_hand = 0.45 * g0 * np.exp(1j * r.uniform(0, 2 * np.pi))
        info["gesture_hz"] = f_g
        return (np.stack([base + sway + quiet, hand], 1),
                np.stack([np.full(n, g0), np.full(n, g_hand)], 1), info)
    if activity == "falling":
        onset = r.uniform(0.3, 0.6) * t[-1] if n > 1 else 0.0
        dur = r.uniform(0.6, 1.2)
        drop = r.uniform(0.6, 1.5) * r.choice([-1.0, 1.0])
        s = np.clip((t - onset) / dur, 0.0, 1.0)
        prog = s * s * (3 - 2 * s) * 0.3 + s * s * 0.7  # accelerating, ends at 1
        # lying after the fall: no sway, but the person's own quiet breathing
        # (tidal breathing does not get shallower lying down; v1 of this
        # generator used a 3x shallower 0.5-1.5 mm, which made a person lying
        # on the floor nearly invisible although labelled "still")
        length = base + drop * prog + np.where(s < 1, sway + quiet, quiet)
        # impact: short broadband jolt at the end of the fall
        impact = np.exp(-(((t - onset - dur) / 0.15) ** 2)) * r.uniform(0.05, 0.15)
        length = length + impact * np.sin(2 * np.pi * 7.0 * t)
        g_floor = g0 * r.uniform(0.3, 0.8) * np.exp(1j * r.uniform(-1, 1))
        gain = g0 + (g_floor - g0) * prog
        info["fall_onset_s"] = float(onset)
        info["fall_end_s"] = float(onset + dur)
        return length[:, None], gain[:, None], info
    raise SynthError(f"unknown activity {activity!r}; expected one of {ACTIVITIES}")


def _as_rng(rng: np.random.Generator | int | None, room_seed: int,
            activity: str) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng([int(room_seed), ACTIVITIES.index(activity), 0x51])
    return np.random.default_rng(int(rng))


def generate_session(activity: str, room_seed: int, seconds: float, rate_hz: float = 10.0,
                     rng: np.random.Generator | int | None = None) -> Session:
    """One session of ``seconds`` at ``rate_hz`` in room ``room_seed``.

    ``rng`` (Generator or seed) drives everything that is not the room;
    None derives a seed from (room_seed, activity). Frames of a "falling"
    session are labelled "falling" from the fall onset for
    :data:`FALL_HOLD_S` seconds and "still" before and after (standing,
    then lying still); ``events`` gives the frame indices ``fall_onset``,
    ``fall_end`` and ``fall_label_end`` (first frame after the label)."""
    if activity not in ACTIVITIES:
        raise SynthError(f"unknown activity {activity!r}; expected one of {ACTIVITIES}")
    if not (seconds > 0 and rate_hz > 0) or seconds * rate_hz > 10_000_000:
        raise SynthError(f"need seconds > 0 and rate_hz > 0, got {seconds}, {rate_hz}")
    r = _as_rng(rng, room_seed, activity)
    room = Room.from_seed(room_seed)
    n = max(1, int(round(seconds * rate_hz)))
    t = np.arange(n) / rate_hz + r.normal(0.0, 0.002, n)  # capture time jitter
    t[0] = max(t[0], 0.0)

    length, gain, info = _dynamic_paths(activity, room, t, rate_hz, r)
    if length.shape[1]:  # each moving path also reaches the receiver via a wall
        proj = r.uniform(0.4, 1.0)
        echo_len = room.person_path_m + room.echo_extra_m + proj * (length - room.person_path_m)
        echo_gain = gain * room.echo_gain * np.exp(1j * r.uniform(0, 2 * np.pi))
        length = np.concatenate([length, echo_len], 1)
        gain = np.concatenate([gain, echo_gain], 1)
    h_static = room.static_channel()
    rms_static = float(np.sqrt(np.mean(np.abs(h_static[~NULL_SUBCARRIERS]) ** 2)))
    h = np.broadcast_to(h_static, (n, N_SUBCARRIERS)).astype(np.complex128)
    if length.shape[1]:
        ph = np.exp(-2j * np.pi * (_RF[None, None, :] / SPEED_OF_LIGHT) * length[:, :, None])
        h = h + rms_static * np.einsum("tp,tpk->tk", gain, ph)

    # receiver: common phase + timing offset per packet, noise, AGC, int8
    theta = r.uniform(0, 2 * np.pi, n)
    sto = r.normal(0.0, room.sto_ns * 1e-9, n)
    h = h * np.exp(1j * (theta[:, None] - 2 * np.pi * _FREQ[None, :] * sto[:, None]))
    power = np.mean(np.abs(h[:, ~NULL_SUBCARRIERS]) ** 2, axis=1)
    sigma = np.sqrt(power * 10 ** (-room.snr_db / 10) / 2)
    h = h + sigma[:, None] * (r.normal(size=h.shape) + 1j * r.normal(size=h.shape))
    agc_err_db = r.normal(0.0, room.agc_jitter_db, n)
    agc_err_db += np.repeat(r.normal(0.0, 1.0, n // 50 + 1), 50)[:n]  # AGC re-settles
    gain_rx = room.target_amp / np.sqrt(np.mean(np.abs(h[:, ~NULL_SUBCARRIERS]) ** 2, axis=1))
    h = h * (gain_rx * 10 ** (agc_err_db / 20))[:, None]
    h[:, NULL_SUBCARRIERS] = 0
    iq = np.empty((n, N_SUBCARRIERS, 2), np.int8)
    iq[..., 0] = np.clip(np.rint(h.real), -128, 127)
    iq[..., 1] = np.clip(np.rint(h.imag), -128, 127)

    # RSSI: channel power relative to the empty room, slow drift, 1 dB steps
    drift = np.cumsum(r.normal(0.0, 0.05, n))
    drift = drift - np.linspace(0.0, 1.0, n) * drift[-1] * 0.5
    rssi_f = (room.rssi_dbm + 10 * np.log10(power / rms_static**2) + drift
              + r.normal(0.0, 0.7, n))
    rssi = np.clip(np.rint(rssi_f), -127, -1).astype(np.int8)
    noise = (room.noise_floor_dbm + (r.random(n) < 0.05) * r.choice([-1, 1], n)).astype(np.int8)

    labels = np.full(n, ACTIVITIES.index(activity), np.int64)
    events: dict[str, int] = {}
    if activity == "falling":
        onset = int(np.searchsorted(t, info["fall_onset_s"]))
        hold_end = int(np.searchsorted(t, info["fall_onset_s"] + FALL_HOLD_S))
        labels[:onset] = ACTIVITIES.index("still")
        labels[hold_end:] = ACTIVITIES.index("still")
        events["fall_onset"] = onset
        events["fall_end"] = int(np.searchsorted(t, info["fall_end_s"]))
        events["fall_label_end"] = hold_end

    # packet loss: independent drops plus short bursts
    lost = r.random(n) < room.loss_prob
    bursts = np.flatnonzero(r.random(n) < room.loss_prob * 0.1)
    for b in bursts:
        lost[b:b + int(r.integers(2, 6))] = True
    keep = ~lost
    keep[0] = True
    idx = np.flatnonzero(keep)
    for name, frame in list(events.items()):  # re-index events after the drops
        events[name] = int(np.searchsorted(idx, frame))
    ts = np.maximum(np.rint(t * 1e6), 0).astype(np.int64)
    return Session(
        activity=activity, room_seed=int(room_seed), rate_hz=float(rate_hz),
        iq=iq[idx], rssi=rssi[idx], noise_floor=noise[idx], labels=labels[idx],
        timestamps_us=ts[idx], seq=(idx + 1).astype(np.uint32), events=events)


@dataclass
class Dataset:
    """Windows of features: ``x`` float32 [N][window][16], ``y`` int64 [N]
    (label of each window's newest frame), ``room`` int64 [N] (room seed),
    ``session`` int64 [N] (running session number)."""

    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int64]
    room: npt.NDArray[np.int64]
    session: npt.NDArray[np.int64]
    class_names: tuple[str, ...]
    window: int
    rate_hz: float
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.y.shape[0])

    def split_rooms(self, held_out: Iterable[int]) -> tuple[Dataset, Dataset]:
        """(train, test) with the rooms in ``held_out`` only in test."""
        mask = np.isin(self.room, np.asarray(list(held_out), np.int64))
        return self._subset(~mask), self._subset(mask)

    def _subset(self, m: npt.NDArray[np.bool_]) -> Dataset:
        return Dataset(self.x[m], self.y[m], self.room[m], self.session[m], self.class_names,
                       self.window, self.rate_hz, dict(self.meta))


def session_windows(feats: npt.NDArray[np.float32], session: Session, window: int,
                    stride: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """End indices (inclusive) and labels of the windows cut from a session.

    Regular windows every ``stride`` frames, labelled by their newest frame.
    In a falling session the "falling" windows are taken at stride 1 (there
    are few of them) and only when they contain the whole fall; the other
    windows whose newest frame is labelled "falling" are dropped."""
    n = feats.shape[0]
    if n < window:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ends = np.arange(window - 1, n, stride)
    if "fall_onset" in session.events:
        ev = session.events
        fall_cls = ACTIVITIES.index("falling")
        ends = ends[session.labels[ends] != fall_cls]
        fall = np.arange(max(window - 1, ev["fall_end"]),
                         min(n, ev["fall_onset"] + window, ev["fall_label_end"]))
        ends = np.sort(np.concatenate([ends, fall])).astype(np.int64)
    return ends, session.labels[ends]


def make_dataset(rooms: int | Sequence[int], activities: Sequence[str] = ACTIVITIES,
                 sessions: int = 1, seconds: float = 60.0, *, window: int = 64,
                 stride: int = 8, rate_hz: float = 10.0, seed: int = 0) -> Dataset:
    """Synthetic windows for ``rooms`` (a count -> seeds 0..N-1, or seeds),
    ``sessions`` sessions per (room, activity) of ``seconds`` each."""
    room_seeds = list(range(rooms)) if isinstance(rooms, int) else [int(s) for s in rooms]
    if not room_seeds or sessions < 1 or window < 1 or stride < 1:
        raise SynthError("need at least one room, one session, window >= 1, stride >= 1")
    for a in activities:
        if a not in ACTIVITIES:
            raise SynthError(f"unknown activity {a!r}; expected one of {ACTIVITIES}")
    xs, ys, rs, ss = [], [], [], []
    k = 0
    for room in room_seeds:
        for a in activities:
            for s in range(sessions):
                rng = np.random.default_rng([int(seed), room, ACTIVITIES.index(a), s])
                sess = generate_session(a, room, seconds, rate_hz, rng)
                f = sess.features()
                ends, labels = session_windows(f, sess, window, stride)
                if ends.size:
                    idx = ends[:, None] - np.arange(window - 1, -1, -1)[None, :]
                    xs.append(f[idx])
                    ys.append(labels)
                    rs.append(np.full(ends.size, room, np.int64))
                    ss.append(np.full(ends.size, k, np.int64))
                k += 1
    if not xs:
        raise SynthError(f"sessions of {seconds} s are shorter than the window ({window})")
    return Dataset(
        x=np.concatenate(xs).astype(np.float32), y=np.concatenate(ys).astype(np.int64),
        room=np.concatenate(rs), session=np.concatenate(ss), class_names=ACTIVITIES,
        window=window, rate_hz=float(rate_hz),
        meta={"feature_set": features.FEATURE_SET_STATS_V1, "seed": int(seed),
              "seconds": float(seconds), "sessions": int(sessions), "stride": int(stride)})
