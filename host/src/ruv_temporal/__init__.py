"""ruv_temporal — host reference for the ESP32-S3 CSI temporal head.

Submodules: ``kernel`` (sparse attention, docs/spec.md §3), ``model`` (model v1,
docs/spec.md §4), ``rvne`` (weight blob, docs/spec.md §5), ``packets`` (telemetry, docs/spec.md §6),
``native`` (the C core built for the host), ``device`` (console-protocol
client), ``features``/``synth``/``train`` (data and training).
"""

__version__ = "1.0.0"
