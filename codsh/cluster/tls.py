"""TLS for the cluster: a CA, and one certificate per member (the scheduler, each node, the
orchestrator), each in a folder of its own with the CA's certificate beside it.

Dask then refuses anyone without a certificate signed by this CA (require_encryption=True, and
both ends check the other's certificate). Only the members get one: the users of the cluster
talk to the orchestrator's API and never hold a Dask certificate (whoever does can run any Python
on every node). The CA's key stays in the root folder (mode 0600), which nobody else is given;
it signs the certificates of members added later.

    root/ca.pem, root/ca-key.pem          the CA
    root/<member>/{ca.pem,cert.pem,key.pem}   what `--tls root/<member>` reads
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import socket
import ssl
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from distributed.security import Security

from codsh.errors import InputError

CA, CERT, KEY = "ca.pem", "cert.pem", "key.pem"
CA_KEY = "ca-key.pem"


def make_certs(root: Path, members: list[str], days: int = 365, hosts: Sequence[str] = ()) -> bool:
    """A CA in `root` (unless there is one) and a certificate for each of `members` in
    `root/<member>` (unless it has one from this CA, valid for `hosts`); True when the CA is
    new (everything that trusted an older one must restart)."""
    new = make_ca(root, days)
    for member in members:
        issue(root, member, days, hosts)
    return new


def make_ca(root: Path, days: int = 365) -> bool:
    """Write root/ca.pem and root/ca-key.pem unless both exist; True when made now."""
    if (root / CA).exists() and (root / CA_KEY).exists():
        return False
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    for old in (CERT, KEY):  # the one certificate for everyone an older codsh made here
        (root / old).unlink(missing_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("codsh cluster CA")
    ca = (
        _builder(name, name, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_key(root / CA_KEY, key)
    (root / CA).write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return True


def issue(root: Path, member: str, days: int = 365, hosts: Sequence[str] = ()) -> Path:
    """root/<member>/{ca.pem,cert.pem,key.pem}: a certificate for `member` (its common name)
    signed by root's CA, valid for localhost and `hosts` (names or IP addresses: Dask checks
    only the CA, `codsh serve --tls-from-cluster` also the name), made unless one is there
    already; returns the folder."""
    folder = root / member
    ca_pem = (root / CA).read_bytes()
    names = alt_names(hosts)
    present = all((folder / name).exists() for name in (CA, CERT, KEY))
    if present and (folder / CA).read_bytes() == ca_pem and _names_of(folder) >= set(names):
        return folder
    ca = x509.load_pem_x509_certificate(ca_pem)
    ca_key = serialization.load_pem_private_key((root / CA_KEY).read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(_name(f"codsh {member}"), ca.subject, key.public_key(), days)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    _write_key(folder / KEY, key)
    (folder / CERT).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / CA).write_bytes(ca_pem)
    return folder


def alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """localhost, 127.0.0.1 and `hosts`, each an IP address or else a DNS name."""
    names: list[x509.GeneralName] = []
    for host in ["localhost", "127.0.0.1", *hosts]:
        try:
            name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            name = x509.DNSName(host)
        if name not in names:
            names.append(name)
    return names


def _names_of(folder: Path) -> set[x509.GeneralName]:
    cert = x509.load_pem_x509_certificate((folder / CERT).read_bytes())
    try:
        return set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return set()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey, days: int
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """The key, readable by its owner only from the start (never briefly world-readable)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_bytes(pem)


def cluster_id(folder: Path) -> str:
    """The cluster's ID, the same for all its members: its CA certificate's hash (made with the
    CA, so two clusters on one machine, e.g. two devstacks, never share one)."""
    try:
        ca = (folder / CA).read_bytes()
    except OSError as exc:
        raise _missing(folder) from exc
    return hashlib.sha256(ca).hexdigest()[:12]


def _missing(folder: Path) -> InputError:
    return InputError(
        f"{folder} has no cluster certificates ({CA}, {CERT} and {KEY})",
        "give --tls the folder of this member's certificate (`codsh cluster certs DIR` makes "
        "DIR/<member>; `codsh devstack up` makes them under the devstack folder, tls/<member>)",
    )


def security(folder: Path) -> Security:
    """Dask security for a member (scheduler, node or orchestrator) from its folder."""
    if not all((folder / name).is_file() for name in (CA, CERT, KEY)):
        raise _missing(folder)
    ca, cert, key = (str(folder / name) for name in (CA, CERT, KEY))
    return Security(
        tls_ca_file=ca,
        tls_client_cert=cert,
        tls_client_key=key,
        tls_scheduler_cert=cert,
        tls_scheduler_key=key,
        tls_worker_cert=cert,
        tls_worker_key=key,
        require_encryption=True,
    )


def check_scheduler(folder: Path, address: str, timeout: float = 10.0) -> bool:
    """One TLS handshake with the scheduler at `address` as the member in `folder`: a scheduler
    of another cluster, or one that refuses this member's certificate, is an InputError at once
    (Dask would retry forever, saying only "Waiting to connect"). True when both sides accepted,
    False when nothing answered (a node then waits for its scheduler, as Dask does)."""
    from urllib.parse import urlsplit

    parts = urlsplit(address)
    if parts.scheme != "tls" or not parts.hostname or not parts.port:
        raise InputError(f"{address!r} is not a scheduler address", "give it as tls://HOST:PORT")
    if not all((folder / name).is_file() for name in (CA, CERT, KEY)):
        raise _missing(folder)
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(folder / CA))
    context.check_hostname = False  # as Dask: the CA is the check, not the host name
    context.load_cert_chain(str(folder / CERT), str(folder / KEY))
    try:
        raw = socket.create_connection((parts.hostname, parts.port), timeout)
    except OSError:
        return False
    with raw:
        try:
            tls = context.wrap_socket(raw)
        except ssl.SSLCertVerificationError as exc:
            raise InputError(
                f"the scheduler at {address} has a certificate from another CA than "
                f"{folder / CA} (this member is of cluster {cluster_id(folder)}): "
                f"{exc.verify_message}",
                "give --tls the folder `codsh cluster certs` made for this member with the "
                "scheduler's CA (copy it from the machine that keeps that CA)",
            ) from exc
        except OSError as exc:  # ssl.SSLError too: no TLS at all there
            raise InputError(
                f"{address} does not answer as a codsh scheduler over TLS ({exc})",
                "check the address and port (`codsh scheduler` writes its address with "
                "--address-file; `codsh devstack status` shows a devstack's)",
            ) from exc
        with tls:
            try:
                tls.recv(1)  # Dask speaks first; a refused certificate is an alert here (TLS 1.3)
            except ssl.SSLError as exc:
                raise InputError(
                    f"the scheduler at {address} refused this member's certificate "
                    f"({folder / CERT}): {exc.reason or exc}",
                    "the certificate must be signed by the scheduler's CA: make it with `codsh "
                    "cluster certs` in the CA's folder and copy that member's folder here",
                ) from exc
            except OSError:  # accepted, and silent: Dask will say more
                pass
    return True
