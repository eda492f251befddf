"""A test upstream over TLS: a throwaway certificate authority, a server certificate it signs,
and the standalone emulator serving HTTPS with it.

For any test or benchmark that must reach an upstream the way the server reaches CometChat::

    from tests.tls import make_tls_files, start_tls_emulator

    files = make_tls_files(tmp_path)             # CA + certificate for localhost and 127.0.0.1
    emulator, root = start_tls_emulator(tmp_path, files, api_key="a-rest-key")
    # root is https://127.0.0.1:<port>; trust files.ca (COMETCHAT_CA_BUNDLE=files.ca,
    # REQUESTS_CA_BUNDLE=files.ca, or CometChatClient(ca_bundle=files.ca)).
    emulator.stop()

Everything here is loopback only and made fresh per call: the CA's key is never written, so
nothing else can ever be signed by it, and no certificate outlives the test's folder.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .procs import Process, free_port

DEFAULT_HOSTS = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the PEM files ``make_tls_files`` wrote."""

    ca: str  # the CA's certificate: what a client trusts
    cert: str  # the server's certificate (signed by the CA)
    key: str  # the server's private key (mode 0600)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _alt_names(hosts: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def make_tls_files(
    directory: Path | str, hosts: Iterable[str] = DEFAULT_HOSTS, *, name: str = "upstream", days: int = 2
) -> TlsFiles:
    """Make a throwaway CA and a server certificate for ``hosts`` (DNS names or IP addresses),
    write ``<name>-ca.pem``, ``<name>-cert.pem`` and ``<name>-key.pem`` into ``directory``."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    hosts = tuple(hosts)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name(f"{name} test CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0] if hosts else name))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )

    files = TlsFiles(
        ca=str(folder / f"{name}-ca.pem"), cert=str(folder / f"{name}-cert.pem"), key=str(folder / f"{name}-key.pem")
    )
    Path(files.ca).write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    Path(files.cert).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    descriptor = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key_bytes)
    return files


def start_tls_emulator(
    tmp: Path,
    files: TlsFiles,
    *,
    api_key: str | None,
    extra_args: tuple[str, ...] = (),
    timeout: float = 20.0,
) -> tuple[Process, str]:
    """``python -m cometchat.emulator`` serving HTTPS on a free loopback port with ``files``;
    returns the process and its root, ``https://127.0.0.1:<port>`` (the REST base is root + "/v3")."""
    port = free_port()
    args = [sys.executable, "-m", "cometchat.emulator", "--port", str(port)]
    args += ["--certfile", files.cert, "--keyfile", files.key]
    if api_key:
        args += ["--api-key", api_key]
    args += list(extra_args)
    proc = Process(args, log_path=Path(tmp) / f"tls-emulator-{port}.log")
    root = f"https://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        if proc.proc.poll() is not None:
            raise RuntimeError(f"the TLS emulator exited with {proc.proc.returncode}:\n{proc.output()}")
        try:
            requests.get(root + "/_emulator/stats", timeout=2, verify=files.ca, proxies={"http": "", "https": ""})
            return proc, root
        except (requests.ConnectionError, requests.Timeout):
            if time.monotonic() > deadline:
                proc.stop()
                raise RuntimeError(f"{root} did not answer over TLS within {timeout} s:\n{proc.output()}") from None
            time.sleep(0.05)
