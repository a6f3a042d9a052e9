"""`codsh serve`: hypercorn's trio worker serving the API, beside the jobs it runs, in one trio run.

With `--certfile`/`--keyfile` it serves https, or with `--tls-from-cluster` with its own cluster
certificate (the `--tls` folder: signed by the cluster's CA, which clients trust as CODSH_CA; it
names localhost and 127.0.0.1, so such a listener is for loopback, or for a wildcard bind reached
through a loopback name). Without, http, and then only on a loopback address unless told
`--insecure` (the bearer tokens would otherwise cross the network in clear).
The address it listens on is written to `serve.json` in the data dir (with `--bind ...:0` the
port is chosen by the system), so scripts and tests find it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import trio
from hypercorn.config import Config
from hypercorn.trio import serve as hypercorn_serve

from codsh.api.app import make_app
from codsh.api.limits import DEFAULT_MAX_FILES
from codsh.api.service import Orchestrator
from codsh.api.tokens import TokenStore
from codsh.config import data_dir, jobs_db
from codsh.errors import InputError
from codsh.jobs.store import JobStore
from codsh.jobs.where import Where

log = logging.getLogger("codsh.serve")


@dataclass(frozen=True)
class ServeOptions:
    bind: str  # host:port; loopback unless configured otherwise
    ipfs_api: str  # the orchestrator's own kubo
    where: Where  # where its jobs run
    max_running: int = 8  # jobs at once per user
    certfile: Path | None = None  # with keyfile: serve https with this certificate (PEM)
    keyfile: Path | None = None
    insecure: bool = False  # allow http on a non-loopback address
    tls_from_cluster: bool = False  # serve https with where.tls's certificate (the cluster CA's)
    max_files: int = DEFAULT_MAX_FILES  # files per job, for tokens without a limit of their own
    warm: int | None = None  # started containers kept per kind of job (None: one per core)


def tokens_db(home: Path | None = None) -> Path:
    """The tokens of the orchestrator whose data dir is `home` (this one's by default)."""
    return (home or data_dir()) / "tokens.sqlite"


def address_file(home: Path | None = None) -> Path:
    return (home or data_dir()) / "serve.json"


def check_bind(bind: str, tls: bool = False, insecure: bool = False) -> str:
    """`bind` when it is HOST:PORT and safe: without TLS only loopback, unless `insecure`."""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise InputError(f"--bind {bind!r} is not HOST:PORT", "e.g. 127.0.0.1:8765")
    if not tls and not insecure and not is_loopback(host):
        raise InputError(
            f"--bind {bind} without TLS: the users' tokens would cross the network in clear",
            "give --certfile and --keyfile (https), bind 127.0.0.1, or pass --insecure when a "
            "TLS proxy in front of it terminates https",
        )
    return bind


def is_loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve anywhere
        return False


def check_tls(certfile: Path | None, keyfile: Path | None) -> bool:
    """True when both are given and readable; neither: False (http); one alone: an error."""
    if certfile is None and keyfile is None:
        return False
    if certfile is None or keyfile is None:
        raise InputError("--certfile and --keyfile go together", "give both (PEM files)")
    for path in (certfile, keyfile):
        if not path.is_file():
            raise InputError(f"no file {path}", "give the server's certificate and key (PEM)")
    return True


def cluster_certificate(folder: Path | None, bind: str) -> tuple[Path, Path]:
    """The certificate and key of the orchestrator's cluster folder (`--tls`), for https on
    `bind`; an InputError when there is none, or when it does not name the bind's host."""
    from codsh.cluster.tls import CERT, KEY

    if folder is None:
        raise InputError(
            "--tls-from-cluster needs the orchestrator's cluster certificate",
            "give --tls DIR (its ca.pem, cert.pem and key.pem, from the cluster's CA)",
        )
    certfile, keyfile = folder / CERT, folder / KEY
    check_tls(certfile, keyfile)
    host = bind.rpartition(":")[0].strip("[]")
    names = certificate_names(certfile)
    if host not in ("0.0.0.0", "::", "") and host not in names:
        raise InputError(
            f"the cluster certificate {certfile} names {', '.join(names)}, not {host}: "
            "clients reaching the API there would not trust it",
            "bind one of those names, or serve a certificate for that name (--certfile/--keyfile)",
        )
    return certfile, keyfile


def certificate_names(certfile: Path) -> list[str]:
    """The DNS names and IP addresses a certificate (PEM) is valid for."""
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(certfile.read_bytes())
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    return [str(name.value) for name in names if isinstance(name, x509.DNSName | x509.IPAddress)]


def hypercorn_config(options: ServeOptions) -> Config:
    if options.tls_from_cluster:
        if options.certfile or options.keyfile:
            raise InputError(
                "--tls-from-cluster and --certfile/--keyfile are two certificates",
                "give one of them",
            )
        certfile, keyfile = cluster_certificate(options.where.tls, options.bind)
        options = replace(options, certfile=certfile, keyfile=keyfile)
    tls = check_tls(options.certfile, options.keyfile)
    config = Config()
    config.bind = [check_bind(options.bind, tls, options.insecure)]
    config.accesslog = logging.getLogger("codsh.serve.access")
    if tls:
        config.certfile, config.keyfile = str(options.certfile), str(options.keyfile)
    return config


async def serve(options: ServeOptions) -> None:
    """Serve until interrupted; running jobs are then recorded as cancelled. The jobs a killed
    orchestrator left running are resumed first, so the API never shows them interrupted."""
    config = hypercorn_config(options)
    with JobStore(jobs_db()) as store:
        tokens = TokenStore(tokens_db())
        service = Orchestrator(
            store,
            options.ipfs_api,
            options.where,
            options.max_running,
            options.max_files,
            options.warm,
        )
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(service.run)
                resumed = await service.resume_interrupted()
                if resumed:
                    log.warning("resumed %d interrupted jobs: %s", len(resumed), " ".join(resumed))
                binds = await nursery.start(hypercorn_serve, make_app(service, tokens), config)
                where = {"api": binds[0], "runs_on": service.where.runs_on}
                address_file().write_text(json.dumps(where))
                log.warning("listening on %s", binds[0])
        finally:
            tokens.close()
            address_file().unlink(missing_ok=True)
