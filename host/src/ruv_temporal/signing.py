"""Signed model envelope (``RVSG``, docs/blob-format.md "Signed envelope").

A node that holds a public key takes a model from the network only inside
this envelope: a 32-byte header, the RVNE blob unchanged, and an ECDSA
P-256 signature over SHA-256 of header + blob (what mbedtls on the
ESP32-S3 verifies, with its hardware SHA/ECC). The header carries a
generation counter; a node refuses a generation that is not newer than the
one it runs, so an old (validly signed) model cannot be replayed.

Layout, little-endian::

    0   u32  magic 0x47535652 ("RVSG" on the wire)
    4   u16  version 1
    6   u16  header_len 32
    8   u32  generation (>= 1)
    12  u32  blob_len
    16  u8[8] key_id  (first 8 bytes of SHA-256 of the signer's public key,
                       DER SubjectPublicKeyInfo)
    24  u16  sig_alg 1 (ECDSA P-256, SHA-256, raw r||s, 64 bytes)
    26  u16  reserved 0
    28  u32  reserved 0
    32  blob[blob_len]
    32+blob_len  u8[64] signature r||s (big-endian integers, 32 bytes each)

The C verifier (firmware/components/ruv_app/src/ruv_sign.c) checks the same
things in the same order and reports the same ``reason`` keys.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import construct as cs

from ruv_temporal.errors import RuvError
from ruv_temporal.status import Status

MAGIC = 0x47535652
RVNE_MAGIC = 0x52564E45
VERSION = 1
HEADER_LEN = 32
SIG_ALG_ECDSA_P256_SHA256 = 1
SIG_LEN = 64
OVERHEAD = HEADER_LEN + SIG_LEN
KEY_ID_LEN = 8

HEADER = cs.Struct(
    "magic" / cs.Int32ul,
    "version" / cs.Int16ul,
    "header_len" / cs.Int16ul,
    "generation" / cs.Int32ul,
    "blob_len" / cs.Int32ul,
    "key_id" / cs.Bytes(KEY_ID_LEN),
    "sig_alg" / cs.Int16ul,
    "reserved0" / cs.Int16ul,
    "reserved1" / cs.Int32ul,
)
assert HEADER.sizeof() == HEADER_LEN

# reason -> status; the same table is in docs/blob-format.md and ruv_sign.c.
REASON_STATUS: dict[str, Status] = {
    "too_short": Status.INVALID_SIZE,
    "bad_magic": Status.INVALID_ARG,
    "bad_version": Status.INVALID_VERSION,
    "bad_header": Status.INVALID_ARG,
    "bad_alg": Status.NOT_SUPPORTED,
    "truncated": Status.INVALID_SIZE,
    "length_mismatch": Status.INVALID_SIZE,
    "key_mismatch": Status.INVALID_ARG,
    "old_generation": Status.INVALID_VERSION,
    "bad_signature": Status.INVALID_CRC,
    "no_key": Status.NOT_SUPPORTED,
    "unsigned": Status.NOT_SUPPORTED,
}


class SignError(RuvError):
    """A signed envelope was refused; ``reason`` is a stable key of
    :data:`REASON_STATUS` and ``status`` its status code (docs/spec.md §7.4)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.status = int(REASON_STATUS[reason])


@dataclass(frozen=True)
class Envelope:
    generation: int
    key_id: bytes
    blob: bytes
    signature: bytes


def _crypto():  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    return hashes, serialization, ec, utils


def generate_private_key():  # type: ignore[no-untyped-def]
    """A new P-256 private key (``cryptography`` object)."""
    _, _, ec, _ = _crypto()
    return ec.generate_private_key(ec.SECP256R1())


def private_pem(key) -> bytes:  # type: ignore[no-untyped-def]
    _, serialization, _, _ = _crypto()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key) -> bytes:  # type: ignore[no-untyped-def]
    """PEM SubjectPublicKeyInfo of a private or public key (what the node embeds)."""
    _, serialization, _, _ = _crypto()
    pub = key.public_key() if hasattr(key, "public_key") else key
    return pub.public_bytes(serialization.Encoding.PEM,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def key_id(key) -> bytes:  # type: ignore[no-untyped-def]
    """First 8 bytes of SHA-256 over the DER SubjectPublicKeyInfo."""
    _, serialization, _, _ = _crypto()
    pub = key.public_key() if hasattr(key, "public_key") else key
    der = pub.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()[:KEY_ID_LEN]


def load_private_key(path: Path):  # type: ignore[no-untyped-def]
    _, serialization, ec, _ = _crypto()
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise RuvError(f"{path}: not an ECDSA P-256 private key")
    return key


def load_public_key(path: Path):  # type: ignore[no-untyped-def]
    _, serialization, ec, _ = _crypto()
    data = Path(path).read_bytes()
    if b"PRIVATE KEY" in data:
        return load_private_key(path).public_key()
    key = serialization.load_pem_public_key(data)
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise RuvError(f"{path}: not an ECDSA P-256 public key")
    return key


def sign(blob: bytes, key, generation: int) -> bytes:  # type: ignore[no-untyped-def]
    """Wraps ``blob`` (any bytes; normally a valid RVNE blob) in a signed envelope."""
    if not 1 <= generation <= 0xFFFFFFFF:
        raise ValueError("generation must be in 1..2^32-1")
    hashes, _, ec, utils = _crypto()
    header = HEADER.build(dict(magic=MAGIC, version=VERSION, header_len=HEADER_LEN,
                               generation=generation, blob_len=len(blob), key_id=key_id(key),
                               sig_alg=SIG_ALG_ECDSA_P256_SHA256, reserved0=0, reserved1=0))
    der = key.sign(header + blob, ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    return header + blob + r.to_bytes(32, "big") + s.to_bytes(32, "big")


def is_envelope(data: bytes) -> bool:
    return len(data) >= 4 and int.from_bytes(data[:4], "little") == MAGIC


def parse(data: bytes) -> Envelope:
    """Structure checks only (no signature): the first failing check raises."""
    if len(data) >= 4 and int.from_bytes(data[:4], "little") == RVNE_MAGIC:
        raise SignError("unsigned", "a bare RVNE blob: the node takes signed models only")
    if len(data) < OVERHEAD:
        if is_envelope(data):
            raise SignError("truncated", f"envelope of {len(data)} bytes is shorter than "
                                         f"header + signature ({OVERHEAD})")
        raise SignError("too_short", f"{len(data)} bytes is shorter than an envelope ({OVERHEAD})")
    h = HEADER.parse(data[:HEADER_LEN])
    if h.magic != MAGIC:
        raise SignError("bad_magic", f"magic 0x{h.magic:08X} is not RVSG (0x{MAGIC:08X})")
    if h.version != VERSION:
        raise SignError("bad_version", f"envelope version {h.version} (supported: {VERSION})")
    if h.header_len != HEADER_LEN or h.reserved0 or h.reserved1 or h.generation == 0:
        raise SignError("bad_header", "header_len, reserved fields or generation 0 invalid")
    if h.sig_alg != SIG_ALG_ECDSA_P256_SHA256:
        raise SignError("bad_alg", f"signature algorithm {h.sig_alg} (supported: 1 ECDSA P-256)")
    want = OVERHEAD + h.blob_len
    if len(data) < want:
        raise SignError("truncated", f"envelope has {len(data)} bytes, header says {want}")
    if len(data) > want:
        raise SignError("length_mismatch", f"envelope has {len(data)} bytes, header says {want}")
    return Envelope(h.generation, bytes(h.key_id), bytes(data[HEADER_LEN:HEADER_LEN + h.blob_len]),
                    bytes(data[-SIG_LEN:]))


def verify(data: bytes, public_key, min_generation: int = 0) -> Envelope:  # type: ignore[no-untyped-def]
    """Checks structure, key id, generation (> ``min_generation``) and the
    signature, in the order the node does; returns the envelope."""
    env = parse(data)
    if env.key_id != key_id(public_key):
        raise SignError("key_mismatch", f"signed by key {env.key_id.hex()}, "
                                        f"node holds {key_id(public_key).hex()}")
    if env.generation <= min_generation:
        raise SignError("old_generation", f"generation {env.generation} is not newer than "
                                          f"{min_generation}")
    hashes, _, ec, utils = _crypto()
    from cryptography.exceptions import InvalidSignature

    r = int.from_bytes(env.signature[:32], "big")
    s = int.from_bytes(env.signature[32:], "big")
    try:
        public_key.verify(utils.encode_dss_signature(r, s), data[:-SIG_LEN],
                          ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise SignError("bad_signature", "ECDSA P-256 signature does not verify") from None
    return env
