"""docs/spec.md §7 status codes (ESP-IDF esp_err_t values), shared with the C core."""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    OK = 0
    NO_MEM = 0x101
    INVALID_ARG = 0x102
    INVALID_STATE = 0x103
    INVALID_SIZE = 0x104
    NOT_FOUND = 0x105
    NOT_SUPPORTED = 0x106
    TIMEOUT = 0x107
    INVALID_CRC = 0x109
    INVALID_VERSION = 0x10A
