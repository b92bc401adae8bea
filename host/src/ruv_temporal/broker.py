"""A private Mosquitto broker on loopback, for tests and the fleet benchmark.

``Mosquitto(workdir).start()`` writes a config with a plain listener and,
with ``tls=True``, a second TLS listener that requires a username and
password (``allow_anonymous false`` there, ``per_listener_settings``), with
a CA and server certificate made on the spot with ``cryptography``. Ports
are picked free on 127.0.0.1. ``stop()``/``start()`` keep the ports, so a
test can kill the broker and bring it back where clients expect it.
Needs the ``mosquitto`` binary (Debian package ``mosquitto``; tools/setup.sh).
"""

from __future__ import annotations

import datetime
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ruv_temporal.errors import RuvError


def find_mosquitto() -> str | None:
    return shutil.which("mosquitto") or next(
        (p for p in ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto") if os.access(p, os.X_OK)),
        None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path


def make_ca(directory: Path, host: str = "127.0.0.1") -> TlsFiles:
    """A throw-away CA and a server certificate for ``host`` (P-256)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ruv-temporal test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False,
                                       encipher_only=False, decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    try:
        san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        san = x509.DNSName(host)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([san, x509.DNSName("localhost")]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    files = TlsFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    files.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.server_key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                   serialization.PrivateFormat.TraditionalOpenSSL,
                                                   serialization.NoEncryption()))
    files.server_key.chmod(0o600)
    return files


class Mosquitto:
    """One mosquitto process with a plain listener (anonymous allowed) and,
    optionally, a TLS listener with password authentication."""

    def __init__(self, workdir: Path, *, tls: bool = False, users: dict[str, str] | None = None,
                 max_queued: int = 1000) -> None:
        exe = find_mosquitto()
        if exe is None:
            raise RuvError("mosquitto not found (apt-get install mosquitto; tools/setup.sh)")
        self.exe = exe
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.tls_port = free_port() if tls else None
        self.users = users or ({"node": "node-secret"} if tls else {})
        self.tls_files = make_ca(self.dir / "tls") if tls else None
        self.max_queued = max_queued
        self.proc: subprocess.Popen[bytes] | None = None
        self._write_config()

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def tls_url(self, user: str | None = None, password: str | None = None) -> str:
        if self.tls_port is None:
            raise RuvError("broker started without tls=True")
        cred = f"{user}:{password}@" if user else ""
        return f"mqtts://{cred}127.0.0.1:{self.tls_port}"

    def _write_config(self) -> None:
        lines = [
            "per_listener_settings true",
            "persistence false",
            f"max_queued_messages {self.max_queued}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous true",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            # started as root, mosquitto would switch to the user "mosquitto",
            # which cannot read the files of a private temporary directory
            lines.insert(0, "user root")
        if self.tls_files is not None:
            pw = self.dir / "passwd"
            pw.write_text("")
            passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
            for user, secret in self.users.items():
                subprocess.run([passwd, "-b", str(pw), user, secret], check=True,
                               capture_output=True)
            lines += [
                f"listener {self.tls_port} 127.0.0.1",
                "allow_anonymous false",
                f"password_file {pw}",
                f"cafile {self.tls_files.ca_cert}",
                f"certfile {self.tls_files.server_cert}",
                f"keyfile {self.tls_files.server_key}",
            ]
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text("\n".join(lines) + "\n")

    def start(self, timeout: float = 10.0) -> Mosquitto:
        if self.proc is not None and self.proc.poll() is None:
            return self
        self.log = (self.dir / "mosquitto.log").open("ab")
        self.proc = subprocess.Popen([self.exe, "-c", str(self.conf)], stdout=self.log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        ports = [p for p in (self.port, self.tls_port) if p]
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuvError(f"mosquitto exited ({self.proc.returncode}): "
                               f"{(self.dir / 'mosquitto.log').read_text()[-2000:]}")
            if all(_listening(p) for p in ports):
                return self
            time.sleep(0.05)
        self.stop()
        raise RuvError(f"mosquitto did not listen on {ports} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
        self.log.close()

    def rss_kib(self) -> int | None:
        """Resident memory of the broker process (Linux /proc), KiB."""
        return rss_kib(self.proc.pid) if self.proc else None

    def __enter__(self) -> Mosquitto:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0
