"""ruv_temporal — host reference for the ESP32-S3 CSI temporal head.

Submodules: ``kernel`` (sparse attention, SPEC §3), ``model`` (model v1,
SPEC §4), ``rvne`` (weight blob, SPEC §5), ``packets`` (telemetry, SPEC §6),
``native`` (the C core built for the host), ``device`` (console-protocol
client), ``features``/``synth``/``train`` (data and training).
"""

__version__ = "1.0.0"
