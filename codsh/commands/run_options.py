"""What `codsh job submit` and `codsh pipe` share: the input CID (flag or stdin), image and limits,
where to run, the memo, and the job's name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from codsh.commands.cluster import parse_labels, tls_option
from codsh.commands.input_cid import read_input_cid
from codsh.completion import cids
from codsh.core.exits import parse_ok_exit
from codsh.core.publish import parse_targets
from codsh.core.sampling import DEFAULT_VERIFY_REPLICAS, parse_verify
from codsh.core.spec import DEFAULT_IMAGE, MAX_REPLICAS, Limits, RunTarget
from codsh.errors import InputError
from codsh.jobs.where import Where
from codsh.names import check_name

F = TypeVar("F", bound=Callable[..., Any])
SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def parse_size(text: str) -> int:
    """`512m`, `4g`, `100k` or a byte count."""
    value = text.strip().lower().removesuffix("b").removesuffix("i")
    unit = value[-1:] if value[-1:] in SIZE_UNITS else ""
    try:
        return int(float(value[: len(value) - len(unit)]) * SIZE_UNITS[unit])
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a size (e.g. 512m, 4g)") from None


_OPTIONS = [
    click.option(
        "-c",
        "--cid",
        metavar="CID",
        shell_complete=cids,
        help="Input CID[/path]: a directory (every file, recursively) or one file. "
        "Default: a CID on stdin.",
    ),
    click.option(
        "--image",
        default=DEFAULT_IMAGE,
        show_default=True,
        help="A local Docker image with /bin/sh.",
    ),
    click.option(
        "--timeout", type=float, default=Limits.timeout, show_default=True, help="Seconds per file."
    ),
    click.option("--memory", default="512m", show_default=True, help="Memory limit per container."),
    click.option(
        "--cpus", type=float, default=Limits.cpus, show_default=True, help="CPUs per container."
    ),
    click.option(
        "--pids",
        type=int,
        default=Limits.pids,
        show_default=True,
        help="Process limit per container.",
    ),
    click.option(
        "--output-limit", default="4g", show_default=True, help="Maximum stdout bytes per file."
    ),
    click.option(
        "--ok-exit",
        metavar="N,N",
        help="Exit statuses that succeed (e.g. 0,1 for diff). Default: 0, and 1 of a line "
        "ending in grep that wrote no error ('no match').",
    ),
    click.option(
        "--replicas",
        type=click.IntRange(1, MAX_REPLICAS),
        default=1,
        show_default=True,
        help="Run every file on N distinct nodes and vote on the output: a node that lies is "
        "outvoted, a file without a strict majority is disputed (a cluster only).",
    ),
    click.option(
        "--verify",
        metavar="sample:P",
        help="Run the replicas on a random fraction P of the files only (e.g. sample:0.1), "
        "and on every file of a node outvoted before; the rest run once. Implies --replicas 3 "
        "when --replicas is not given.",
    ),
    click.option("--slots", type=int, default=0, help="Containers at once [default: CPU count]."),
    click.option(
        "--shard-size",
        type=click.IntRange(1),
        default=1000,
        show_default=True,
        help="At most this many files per shard (one container serves a shard).",
    ),
    click.option(
        "--find-timeout",
        type=float,
        default=30.0,
        show_default=True,
        help="Seconds to wait for the input CID to be found.",
    ),
    click.option(
        "--scheduler",
        envvar="CODSH_SCHEDULER",
        metavar="ADDR",
        help="Run on the cluster at ADDR (tls://host:port) [env CODSH_SCHEDULER]; "
        "without it, on this node.",
    ),
    tls_option(),
    click.option(
        "--select",
        "select",
        multiple=True,
        metavar="KEY=VALUE",
        help="Run only on nodes with this label (repeatable).",
    ),
    click.option(
        "--no-memo",
        is_flag=True,
        help="Run every file, even those whose result is remembered from an earlier run "
        "or shared with an identical file.",
    ),
    click.option(
        "--name",
        metavar="NAME",
        help="Name the job (e.g. nightly): `codsh job describe NAME` shows its latest run, and "
        "its output is published under the IPNS name `codsh name ls` shows (`-c NAME` reads it).",
    ),
    click.option(
        "--publish",
        multiple=True,
        metavar="TARGET",
        help="Also copy the output to dir:PATH or s3://BUCKET/PREFIX (repeatable; ipfs: "
        "always). See `codsh publish --help`.",
    ),
    click.option(
        "--overwrite",
        is_flag=True,
        help="--publish may replace a non-empty directory, or objects that differ.",
    ),
    click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print a JSON result (output and manifest CIDs) instead of the CID.",
    ),
]


def run_options(command: F) -> F:
    """Add the shared options, in the order they are listed above."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


@dataclass(frozen=True)
class RunOptions:
    """The shared options, checked."""

    input: str
    image: str
    limits: Limits
    target: RunTarget
    where: Where
    name: str | None
    as_json: bool
    ok_exit: tuple[int, ...] = ()
    replicas: int = 1
    verify: float = 0.0

    def spec_fields(self) -> dict[str, Any]:
        """The JobSpec fields these options set besides input, image and limits."""
        return {
            "target": self.target,
            "ok_exit": self.ok_exit,
            "replicas": self.replicas,
            "verify": self.verify,
        }

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RunOptions:
        input_path = read_input_cid(params["cid"])
        limits = Limits(
            timeout=params["timeout"],
            memory=parse_size(params["memory"]),
            cpus=params["cpus"],
            pids=params["pids"],
            output=parse_size(params["output_limit"]),
        )
        where = Where(params["scheduler"], params["tls"]).checked()
        target = RunTarget(
            select=parse_labels(params["select"]),
            shard_size=params["shard_size"],
            find_timeout=params["find_timeout"],
            memo=not params["no_memo"],
            slots=params["slots"],
            publish=tuple(params["publish"]),
            overwrite=params["overwrite"],
        )
        parse_targets(target.publish)  # a malformed target is refused before anything runs
        ok_exit: tuple[int, ...] = ()
        if params["ok_exit"] is not None:
            try:
                ok_exit = parse_ok_exit(params["ok_exit"])
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--ok-exit") from None
        replicas, verify = params["replicas"], 0.0
        if params.get("verify"):
            try:
                verify = parse_verify(params["verify"])
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--verify") from None
            if replicas == 1:
                replicas = DEFAULT_VERIFY_REPLICAS
        return cls(
            input_path,
            params["image"],
            limits,
            target,
            where,
            check_name(params["name"]),
            params["as_json"],
            ok_exit,
            replicas,
            verify,
        )


def one_of(
    command: str | None, script: Path | None, program: str | None, requirements: Path | None
) -> None:
    """Exactly one of -e, -f and -x; -r only with -f."""
    choices = (("-e", command), ("-f", script), ("-x", program))
    given = [name for name, value in choices if value is not None]
    if len(given) != 1:
        raise InputError(
            "give one of -e CMD, -f SCRIPT or -x CID"
            if not given
            else f"{' and '.join(given)} cannot be combined",
            'e.g. -e "grep rain", -f process.py --fn downscale, or -x bafy... (`codsh fn pack`)',
        )
    if requirements and not script:
        raise InputError("-r goes with -f", "give the script with -f SCRIPT")
