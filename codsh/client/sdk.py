"""The Python SDK: `codsh.connect()`, `client.submit(...) -> Job`, `job.result()`, shaped after
Dask's `Client.submit().result()`. See docs/sdk.md.

    client = codsh.connect()                     # CODSH_API/CODSH_TOKEN, else in-process
    job = client.submit("grep rain", cid)        # returns at once; the job runs
    print(job.result())                          # the output CID (JobFailed if files failed)

Through the orchestrator's API (`connect(api=URL, token=...)`, or CODSH_API and CODSH_TOKEN) the
jobs run where the orchestrator runs them and data goes through its kubo; without an API they run
in this process, on this machine's kubo and Docker, recorded in the local job store as `codsh run`
records them. Either way the spec is the one the CLI builds, so CIDs and the memo are the CLI's.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Self, Unpack

from codsh.client.backend import Backend, Failure
from codsh.client.job import Job, JobFailed
from codsh.client.options import (
    RunOptions,
    SubmitOptions,
    check_replicas,
    check_verify,
    ok_statuses,
    run_parts,
)
from codsh.client.waiting import ALL_COMPLETED, FIRST_COMPLETED, as_completed, wait
from codsh.core.spec import CONCAT, DEFAULT_IMAGE, PER_FILE, JobSpec, Limits
from codsh.core.spec import check_input as check_cid
from codsh.errors import InputError

__all__ = [
    "ALL_COMPLETED",
    "FIRST_COMPLETED",
    "Client",
    "Failure",
    "Job",
    "JobFailed",
    "RunOptions",
    "SubmitOptions",
    "as_completed",
    "connect",
    "wait",
]


def connect(
    api: str | None = None,
    token: str | None = None,
    *,
    ipfs: str | None = None,
    ca: str | None = None,
) -> Client:
    """A client of the orchestrator at `api` (else CODSH_API), with `token` (else CODSH_TOKEN),
    trusting the CA file `ca` (else CODSH_CA, else the system's store) for https; without either,
    an in-process client on the kubo at `ipfs` (else CODSH_IPFS, the devstack's, ~/.ipfs's) and
    the local Docker engine."""
    url = api or os.environ.get("CODSH_API")
    if url:
        from codsh.client.remote import Remote

        secret = token or os.environ.get("CODSH_TOKEN", "")
        if not secret:
            raise InputError("an orchestrator needs a token", "pass token=..., or set CODSH_TOKEN")
        return Client(Remote(url, secret, ca))
    if token:
        raise InputError("a token without an API URL", "pass api=URL too, or set CODSH_API")
    from codsh.client.local import Local
    from codsh.devstack import first_node_repo
    from codsh.ipfs.address import default_api

    return Client(Local(default_api(ipfs or os.environ.get("CODSH_IPFS"), first_node_repo())))


class Client:
    """Submits jobs and reads data, through the orchestrator or in this process (`where` says)."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    @property
    def where(self) -> str:
        """The orchestrator's URL, or "this machine"."""
        return self._backend.where

    def __repr__(self) -> str:
        return f"<codsh.Client on {self.where}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass  # nothing to release: jobs go on (as after `codsh run --detach`)

    def submit(
        self,
        what: str | Callable[..., Any],
        cid: str | Job,
        *,
        concat: bool = False,
        fuel: int = Limits.fuel,
        requirements: str | Path | None = None,
        replicas: int = 1,
        verify: str | None = None,
        **options: Unpack[RunOptions],
    ) -> Job:
        """Run `what` over every file of `cid` (a CID[/path], or a Job: its output, once it has
        succeeded); returns at once. `what` is a shell command, a Python function (its source
        file, with the wheels of `requirements`, becomes a bundle), or 'bundle:CID' / 'wasm:CID'
        (a `codsh fn pack` bundle or a WASI module). `concat`: one output file. The other
        keywords are `codsh job submit`'s options (RunOptions; docs/sdk.md)."""
        from codsh.client.programs import choose

        limits, target = run_parts(options, fuel)
        fraction, replicas = check_verify(verify, check_replicas(replicas))
        source = self._input(cid)
        reqs = Path(requirements) if requirements is not None else None
        program = choose(what, options.get("image"), reqs, self._backend)
        spec = JobSpec(
            command=program.command,
            input=source,
            image=program.image,
            image_digest=self._backend.image_digest(program.image) if program.image else "",
            mode=CONCAT if concat else PER_FILE,
            limits=limits,
            kind=program.kind,
            program=program.program,
            target=target,
            ok_exit=ok_statuses(options),
            replicas=replicas,
            verify=fraction,
        )
        return Job(self, self._backend.submit(spec, options.get("name"))["id"])

    def pipe(
        self,
        stages: Sequence[str],
        cid: str | Job,
        *,
        fuse: bool = True,
        **options: Unpack[RunOptions],
    ) -> Job:
        """A pipeline, as `codsh pipe`: shell commands, each optionally followed by "--concat"
        (its outputs merged into one file, on which the next stage runs); adjacent per-file
        stages run fused as one shell pipe in one container pass (`fuse=False`: each its own
        job). One recorded job whose steps are jobs `ID-1`, `ID-2`, ...; returns at once."""
        from codsh.core.pipeline import parse_stages

        parse_stages(list(stages))  # a bad stage is refused here, before anything is recorded
        limits, target = run_parts(options)
        image = options.get("image") or DEFAULT_IMAGE
        first = JobSpec(
            command="",
            input=self._input(cid),
            image=image,
            image_digest=self._backend.image_digest(image),
            limits=limits,
            target=target,
            ok_exit=ok_statuses(options),
        )
        return Job(self, self._backend.pipe(first, list(stages), fuse, options.get("name"))["id"])

    def _input(self, cid: str | Job) -> str:
        """A CID[/path], a Job (its output), or a name / an /ipns/ path (resolved now: the job
        records the CID it ran on)."""
        from codsh.names import is_cid_path

        if isinstance(cid, Job):
            return cid.result()
        return check_cid(cid if is_cid_path(cid) else self._backend.resolve(cid))

    def job(self, job_id: str) -> Job:
        """The job with this ID (a prefix is enough), or the latest run of the job so named."""
        return Job(self, self._backend.record(job_id)["id"])

    def jobs(self, limit: int = 50, name: str | None = None) -> list[Job]:
        """The latest jobs (yours, through the API), newest first; only `name`'s runs if given."""
        return [Job(self, record["id"]) for record in self._backend.records(limit, name)]

    def add(self, path: str | Path) -> str:
        """Add a file or a folder (recursively) with codsh's canonical options; its CID."""
        if not Path(path).exists():
            raise InputError(f"no such file or folder: {path}", "check the path")
        return self._backend.add(Path(path))

    def cat(self, cid: str) -> bytes:
        """The bytes of file CID[/path]."""
        return self._backend.read(check_cid(cid))
