"""Throwaway certificates for the emulator's HTTPS mode (``EmulatorConfig(tls=True)``, CLI ``--tls``).

Needs the ``cryptography`` package (an Airflow dependency); the rest of ``testing`` imports this module
only when TLS is asked for.

:func:`make_ca` writes a private, self-signed CA certificate; :func:`issue_server_cert` signs a server
certificate for loopback with it; :class:`EmulatorTls` does both in a temporary folder (plus a second,
*other* CA that signed nothing, for tests of a wrong CA bundle) and builds the server's ``SSLContext``.

A wrong CA for a test, by hand::

    other = make_ca(tmp_path)  # did not sign the emulator's certificate
    requests.get(emu.base_url + "/_emulator/health", verify=str(other.cert_path))  # SSLError
"""

from __future__ import annotations

import ipaddress
import shutil
import ssl
import tempfile
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The names the emulator's server certificate is valid for.
DEFAULT_HOSTS = ("127.0.0.1", "localhost")
#: Validity of generated certificates (days); a little before "now" too, for clock skew.
DEFAULT_DAYS = 2
_BACKDATE = timedelta(hours=1)


class CertificateAuthority(NamedTuple):
    """A CA made by :func:`make_ca`: its certificate file (PEM) and, in memory only, its key."""

    cert_path: Path
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


class ServerCert(NamedTuple):
    """A server certificate made by :func:`issue_server_cert`: PEM certificate and unencrypted PEM key."""

    cert_path: Path
    key_path: Path
    cert: x509.Certificate


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _write(path: Path, data: bytes, mode: int = 0o644) -> Path:
    path.write_bytes(data)
    path.chmod(mode)
    return path


def make_ca(
    folder: str | Path,
    *,
    name: str = "8x8 emulator test CA",
    days: int = DEFAULT_DAYS,
    filename: str = "ca.pem",
) -> CertificateAuthority:
    """Create a self-signed CA (``CA:true``, keyUsage ``keyCertSign``) and write its certificate to
    ``folder/filename``; the private key stays in memory (returned). Each call makes a different CA.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "airflow-provider-eightbyeight testing"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{name} {uuid.uuid4().hex[:12]}"),
        ]
    )
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = _write(Path(folder) / filename, cert.public_bytes(serialization.Encoding.PEM))
    return CertificateAuthority(path, cert, key)


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    """Digital signatures; certificate and CRL signing too for a CA."""
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _san(hosts: Iterable[str]) -> x509.SubjectAlternativeName:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host.strip("[]"))))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


def issue_server_cert(
    ca: CertificateAuthority,
    folder: str | Path,
    *,
    hosts: Iterable[str] = DEFAULT_HOSTS,
    days: int = DEFAULT_DAYS,
    stem: str = "server",
) -> ServerCert:
    """Sign a server certificate for ``hosts`` (IP addresses and DNS names in subjectAltName, EKU
    ``serverAuth``) with ``ca``; writes ``folder/<stem>.pem`` and ``folder/<stem>-key.pem`` (mode 600).
    """
    hosts = tuple(hosts)
    if not hosts:
        raise ValueError("hosts must not be empty")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    ca_ski = ca.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(min(now + timedelta(days=days), ca.cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_san(hosts), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca.key, hashes.SHA256())
    )
    folder = Path(folder)
    cert_path = _write(folder / f"{stem}.pem", cert.public_bytes(serialization.Encoding.PEM))
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_path = _write(folder / f"{stem}-key.pem", key_pem, 0o600)
    return ServerCert(cert_path, key_path, cert)


def server_context(cert_path: str | Path, key_path: str | Path) -> ssl.SSLContext:
    """A ``PROTOCOL_TLS_SERVER`` context (TLS 1.2+) serving ``cert_path`` / ``key_path``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert_path), str(key_path))
    return context


class EmulatorTls:
    """The emulator's TLS material in a temporary folder (removed by :meth:`cleanup`):

    ``ca.pem`` (the CA that signed the server certificate), ``server.pem`` / ``server-key.pem`` and
    ``other-ca.pem`` (a second CA that signed nothing: verification with it fails).
    """

    def __init__(self, hosts: Iterable[str] = DEFAULT_HOSTS, *, days: int = DEFAULT_DAYS) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="8x8-emulator-tls-"))
        try:
            self.ca = make_ca(self.folder, days=days)
            self.server = issue_server_cert(self.ca, self.folder, hosts=hosts, days=days)
            self.other_ca = make_ca(self.folder, name="8x8 emulator OTHER test CA", days=days, filename="other-ca.pem")
            self.context = server_context(self.server.cert_path, self.server.key_path)
        except BaseException:
            self.cleanup()
            raise

    @property
    def ca_path(self) -> str:
        """Path of ``ca.pem``."""
        return str(self.ca.cert_path)

    @property
    def other_ca_path(self) -> str:
        """Path of ``other-ca.pem`` (did not sign the server certificate)."""
        return str(self.other_ca.cert_path)

    @property
    def server_cert_path(self) -> str:
        """Path of ``server.pem``."""
        return str(self.server.cert_path)

    def cleanup(self) -> None:
        """Remove the folder and everything in it."""
        shutil.rmtree(self.folder, ignore_errors=True)
