"""The package's documented error types."""

from __future__ import annotations


class RuvError(Exception):
    """Base class of every error this package raises on bad input."""


class BlobError(RuvError):
    """An RVNE blob was rejected. ``reason`` is a short stable key
    (``too_short``, ``bad_magic``, ``bad_version``, ``length_mismatch``,
    ``crc_mismatch``, ``bad_shape``, ``section_overrun``, ...) and ``status``
    the matching docs/spec.md §7 status code (full table: docs/blob-format.md,
    ``ruv_temporal.rvne.REASON_STATUS``)."""

    def __init__(self, reason: str, message: str, status: int) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


class PacketError(RuvError):
    """A telemetry packet could not be decoded."""


class DeviceError(RuvError):
    """A device answered a console command with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"device error 0x{status:x}: {message}")
        self.status = status
        self.message = message


class NativeBuildError(RuvError):
    """The C core could not be built or loaded for the host."""
