"""ruv_temporal — host reference for the ESP32-S3 CSI temporal head.

Submodules: ``kernel`` (sparse attention, docs/spec.md §3), ``model`` (model v1,
docs/spec.md §4), ``rvne`` (weight blob, docs/spec.md §5), ``packets`` (telemetry, docs/spec.md §6),
``native`` (the C core built for the host), ``locate`` (where the native
parts are), ``device`` (console-protocol client), ``features``/``synth``/
``train`` (data and training).
"""

from importlib import metadata as _metadata

try:
    # One version for package and firmware: the build backend reads it from
    # the C core's RUV_TEMPORAL_VERSION_* macros (host/pyproject.toml).
    __version__ = _metadata.version("ruv-temporal")
except _metadata.PackageNotFoundError:  # a bare source tree on PYTHONPATH
    __version__ = "0+unknown"
