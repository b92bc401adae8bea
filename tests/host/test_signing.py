"""Signed model envelope: the Python reference (ruv_temporal.signing), the
CLI (`keys generate`, `blob sign`) and cross tests where Python signs with
`cryptography` and the node's C verifier (ruv_sign.c on mbedtls, through the
ruv_sign_verify tool) checks — valid envelopes accepted, wrong key,
tampering, truncation, replayed generations and bare blobs refused with the
same reason on both sides."""

from __future__ import annotations

import random
import subprocess
import zlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from ruv_temporal import locate, rvne, signing
from ruv_temporal.cli import main
from ruv_temporal.status import Status

BLOB = rvne.init_random(16, 4, 1, 32, 2, 4)
REPO = Path(__file__).resolve().parents[2]


def build_dir() -> Path:
    """The host CMake build holding the ruv_sign_verify test tool (not part of
    the package): $RUV_BUILD_DIR, else the checkout's .build/host."""
    return locate.build_dir() or REPO / ".build" / "host"


@pytest.fixture(scope="module")
def key():
    return signing.generate_private_key()


@pytest.fixture(scope="module")
def other_key():
    return signing.generate_private_key()


@pytest.fixture(scope="module")
def verifier() -> Path:
    exe = build_dir() / "ruv_sign_verify"
    if not exe.exists():
        subprocess.run(["cmake", "--build", str(build_dir()), "--target", "ruv_sign_verify"],
                       check=False, capture_output=True)
    if not exe.exists():
        pytest.fail(f"{exe} missing: build the host tree (make native; needs libmbedtls-dev)")
    return exe


def c_verify(exe: Path, tmp: Path, pub_pem: bytes, env: bytes, min_gen: int = 0,
             chunk: int = 0) -> tuple[int, list[str]]:
    kp, ep = tmp / "k.pem", tmp / "e.bin"
    kp.write_bytes(pub_pem)
    ep.write_bytes(env)
    r = subprocess.run([str(exe), str(kp), str(ep), str(min_gen), str(chunk)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, r.stdout.split()


def py_reason(env: bytes, pub, min_gen: int = 0) -> str:
    try:
        signing.verify(env, pub, min_gen)
    except signing.SignError as e:
        assert e.status == signing.REASON_STATUS[e.reason]
        return e.reason
    return "ok"


def test_layout_and_roundtrip(key):
    env = signing.sign(BLOB, key, 7)
    assert len(env) == len(BLOB) + 96
    assert env[:4] == b"RVSG"
    h = signing.HEADER.parse(env[:32])
    assert (h.version, h.header_len, h.generation, h.sig_alg) == (1, 32, 7, 1)
    assert h.blob_len == len(BLOB)
    assert h.key_id == signing.key_id(key)
    assert env[32:-64] == BLOB
    got = signing.verify(env, key.public_key(), 6)
    assert got.generation == 7 and got.blob == BLOB


def test_python_refusals(key, other_key):
    pub = key.public_key()
    env = signing.sign(BLOB, key, 5)
    assert py_reason(env, pub, 5) == "old_generation"
    assert py_reason(env, pub, 4) == "ok"
    assert py_reason(env, other_key.public_key()) == "key_mismatch"
    assert py_reason(env[:-1], pub) == "truncated"
    assert py_reason(env[:50], pub) == "truncated"
    assert py_reason(env + b"\0", pub) == "length_mismatch"
    assert py_reason(BLOB, pub) == "unsigned"
    assert py_reason(b"xy", pub) == "too_short"
    tampered = bytearray(env)
    tampered[100] ^= 1
    assert py_reason(bytes(tampered), pub) == "bad_signature"
    # another key's signature under our key id
    forged = env[:-64] + signing.sign(BLOB, other_key, 5)[-64:]
    assert py_reason(forged, pub) == "bad_signature"


def test_c_accepts_python_signatures(verifier, key, tmp_path):
    pub_pem = signing.public_pem(key)
    rng = random.Random(13)
    for gen in (1, 2, 1000, 0xFFFFFFFF):
        env = signing.sign(BLOB, key, gen)
        for chunk in (0, 1 + rng.randrange(200), 4096):
            rc, out = c_verify(verifier, tmp_path, pub_pem, env, gen - 1, chunk)
            assert rc == 0, out
            assert out == ["OK", f"generation={gen}", f"blob_len={len(BLOB)}",
                           f"blob_crc=0x{zlib.crc32(BLOB):08X}"]


def test_c_der_key_accepted(verifier, key, tmp_path):
    from cryptography.hazmat.primitives import serialization

    der = key.public_key().public_bytes(serialization.Encoding.DER,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    rc, out = c_verify(verifier, tmp_path, der, signing.sign(BLOB, key, 3))
    assert rc == 0, out


def test_c_and_python_refuse_alike(verifier, key, other_key, tmp_path):
    """Every refusal, fed whole and in random pieces: same reason, same status."""
    pub, pub_pem = key.public_key(), signing.public_pem(key)
    env = signing.sign(BLOB, key, 5)
    rng = random.Random(5)
    flips = [bytearray(env) for _ in range(4)]
    for f in flips:
        f[rng.randrange(32, len(env))] ^= 1 << rng.randrange(8)
    cases = {
        "wrong key": (signing.sign(BLOB, other_key, 5), 0, "key_mismatch"),
        "forged under our id": (env[:-64] + signing.sign(BLOB, other_key, 5)[-64:], 0,
                                "bad_signature"),
        "truncated by 1": (env[:-1], 0, "truncated"),
        "truncated to half": (env[: len(env) // 2], 0, "truncated"),
        "truncated to 40": (env[:40], 0, "truncated"),
        "trailing byte": (env + b"\0", 0, "length_mismatch"),
        "same generation": (env, 5, "old_generation"),
        "older generation": (env, 9, "old_generation"),
        "bare blob": (BLOB, 0, "unsigned"),
        "bad version": (env[:4] + b"\x02" + env[5:], 0, "bad_version"),
        **{f"flip {i}": (bytes(f), 0, "bad_signature") for i, f in enumerate(flips)},
    }
    for name, (data, min_gen, reason) in cases.items():
        assert py_reason(data, pub, min_gen) == reason, name
        for chunk in (0, 1 + rng.randrange(100)):
            rc, out = c_verify(verifier, tmp_path, pub_pem, data, min_gen, chunk)
            assert rc == 1 and out[0] == "REJECTED", (name, out)
            assert out[1] == reason, (name, chunk, out)
            assert int(out[2], 16) == signing.REASON_STATUS[reason], (name, out)
    assert signing.REASON_STATUS["bad_signature"] == Status.INVALID_CRC


def test_c_refuses_non_p256_key(verifier, tmp_path, key):
    from cryptography.hazmat.primitives.asymmetric import ec

    k1 = ec.generate_private_key(ec.SECP256K1())
    kp, ep = tmp_path / "k.pem", tmp_path / "e.bin"
    kp.write_bytes(signing.public_pem(k1))
    ep.write_bytes(signing.sign(BLOB, key, 1))
    r = subprocess.run([str(verifier), str(kp), str(ep)], capture_output=True, text=True)
    assert r.returncode == 2 and "P-256" in r.stderr


def test_cli_keys_and_sign(tmp_path, verifier):
    runner = CliRunner()
    keyfile = tmp_path / "k" / "fleet.pem"
    r = runner.invoke(main, ["keys", "generate", "--out", str(keyfile)])
    assert r.exit_code == 0, r.output
    pub = tmp_path / "k" / "fleet.pub.pem"
    assert keyfile.stat().st_mode & 0o777 == 0o600 and pub.exists()
    kid = signing.key_id(signing.load_public_key(pub)).hex()
    assert f"key id      {kid}" in r.output
    r = runner.invoke(main, ["keys", "generate", "--out", str(keyfile)])
    assert r.exit_code == 2 and "exists" in r.output
    r = runner.invoke(main, ["keys", "show", str(pub)])
    assert r.exit_code == 0 and kid in r.output

    model, out = tmp_path / "m.rvne", tmp_path / "m.rvsg"
    model.write_bytes(BLOB)
    r = runner.invoke(main, ["blob", "sign", str(model), "-k", str(keyfile), "-g", "3",
                             "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert f"model CRC 0x{rvne.parse(BLOB).crc32:08X}" in r.output
    env = out.read_bytes()
    assert signing.verify(env, signing.load_public_key(pub)).generation == 3
    rc, _ = c_verify(verifier, tmp_path, pub.read_bytes(), env, 2)
    assert rc == 0
    # a blob the node would reject is not signed
    bad = tmp_path / "bad.rvne"
    bad.write_bytes(BLOB[:-1] + bytes([BLOB[-1] ^ 1]))
    r = runner.invoke(main, ["blob", "sign", str(bad), "-k", str(keyfile), "-g", "4",
                             "-o", str(tmp_path / "bad.rvsg")])
    assert r.exit_code == 2 and "crc_mismatch" in r.output
    assert not (tmp_path / "bad.rvsg").exists()


def test_every_reason_documented():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "blob-format.md").read_text()
    part = doc.split("## Signed envelope", 1)[1]
    for reason, status in signing.REASON_STATUS.items():
        assert f"| `{reason}` |" in part, reason
        assert f"0x{int(status):03X}" in part
