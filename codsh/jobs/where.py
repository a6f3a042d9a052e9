"""Where a job runs: here or on a cluster. Cheap to import: the executions load when used."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from codsh.errors import InputError

if TYPE_CHECKING:
    import docker

    from codsh.cluster.execution import SharedClient
    from codsh.core.spec import JobSpec
    from codsh.executor.warm import WarmPool
    from codsh.jobs.execution import Execution


@dataclass(frozen=True)
class Where:
    """Where a job runs: on the cluster at `scheduler` (with the certificates in `tls`), or here."""

    scheduler: str | None = None
    tls: Path | None = None

    @property
    def runs_on(self) -> str:
        return self.scheduler or "this node"

    def checked(self, why: str = "--scheduler needs the cluster's certificates") -> Where:
        """This, when it can run; a cluster needs its certificates (`why` says who asks)."""
        if self.scheduler and self.tls is None:
            raise InputError(why, "pass --tls DIR or set CODSH_TLS")
        return self

    def admits(self, spec: JobSpec) -> JobSpec:
        """`spec`, when it can run here; said before anything is recorded. A vote needs other
        parties: one machine running every replica would only agree with itself."""
        if spec.replicas > 1 and not self.scheduler:
            raise InputError(
                f"--replicas {spec.replicas} needs {spec.replicas} nodes; this machine is one",
                "run it on a cluster (`eval $(codsh devstack env)` for the devstack), "
                "or leave --replicas out",
            )
        return spec

    def execution(
        self,
        job_id: str,
        engine: docker.DockerClient | None = None,
        suspects: frozenset[str] = frozenset(),
        pool: WarmPool | None = None,
        shared: SharedClient | None = None,
    ) -> Execution:
        """How job `job_id` runs; `suspects`: nodes outvoted before (--verify checks all theirs);
        `pool`: started containers a long-lived process keeps for running here (warm.py);
        `shared`: the client to the cluster such a process keeps (cluster/execution.py)."""
        tls = self.checked().tls
        if self.scheduler and tls:
            from codsh.cluster.execution import ClusterExecution  # imports Dask: only when used

            return ClusterExecution(self.scheduler, tls, job_id, suspects, shared)
        from codsh.executor.container import JOB_LABEL, docker_client
        from codsh.jobs.local import LocalExecution

        return LocalExecution(engine or docker_client(), {JOB_LABEL: job_id}, pool)
