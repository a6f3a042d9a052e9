"""Multi-stage pipelines: which stages run together as one job (a step), decided without I/O.

`codsh pipe -c CID 'grep Lisbon' 'cut -d, -f4' --concat 'sort -n | uniq -c'` has map stages that
run per file next to the data and a `--concat` barrier that merges by reference; the stage after it
runs on the merged file (the reduce). Adjacent per-file stages give the same per-file result when
they run as one shell pipe in one container pass as when each runs as its own job over the other's
output, so they are fused: one container start and one output add per file instead of one per stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from codsh.core.spec import check_command
from codsh.errors import InputError

BARRIER = "--concat"

# The shells that fuse exactly: a failing stage must fail the file as it would unfused, which needs
# `pipefail` (busybox ash, bash); dash and others lack it, so stages in other images run unfused.
FUSING_IMAGES = ("codsh/busybox",)


@dataclass(frozen=True)
class Stage:
    command: str
    concat: bool = False  # a barrier after this stage: its outputs become one file


@dataclass(frozen=True)
class Step:
    """What runs as one job: one stage, or adjacent per-file stages fused into one shell pipe."""

    stages: tuple[Stage, ...]

    @property
    def concat(self) -> bool:
        return self.stages[-1].concat

    @property
    def command(self) -> str:
        if len(self.stages) == 1:
            return self.stages[0].command
        # Each stage in its own subshell (its own pipes, `;` and `||` stay its own), on its own
        # lines (a `#` comment ends at the newline, not at the next stage).
        parts = " | ".join(f"(\n{stage.command}\n)" for stage in self.stages)
        return f"set -o pipefail\n{parts}"


def parse_stages(words: list[str]) -> list[Stage]:
    """The stages of `codsh pipe`'s arguments: commands, each optionally followed by --concat."""
    stages: list[Stage] = []
    for word in words:
        if word == BARRIER:
            if not stages:
                raise InputError(
                    "--concat comes before any stage",
                    "put --concat after the stage whose outputs are to be concatenated",
                )
            if stages[-1].concat:
                raise InputError("--concat is given twice in a row", "give it once per barrier")
            stages[-1] = Stage(stages[-1].command, concat=True)
            continue
        if word.startswith("-"):  # no command starts with a dash: a mistyped option
            raise InputError(
                f"unknown option {word!r}",
                "`codsh pipe --help` lists the options; a stage is one quoted argument",
            )
        if not word.strip():
            raise InputError(
                f"stage {len(stages) + 1} is empty", "remove the empty '' or give it a command"
            )
        check_command(word)
        stages.append(Stage(word))
    if not stages:
        raise InputError(
            "no stages given", "e.g. codsh pipe -c CID 'grep Lisbon' --concat 'sort | uniq -c'"
        )
    return stages


def group_steps(stages: list[Stage], fuse: bool = True) -> list[Step]:
    """Group stages into steps: with `fuse`, each run of per-file stages up to a barrier is one."""
    if not fuse:
        return [Step((stage,)) for stage in stages]
    steps: list[Step] = []
    current: list[Stage] = []
    for stage in stages:
        current.append(stage)
        if stage.concat:
            steps.append(Step(tuple(current)))
            current = []
    if current:
        steps.append(Step(tuple(current)))
    return steps


def can_fuse(image: str) -> bool:
    """Whether stages fuse exactly in `image` (its shell has pipefail; see FUSING_IMAGES)."""
    name = image.split("@")[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]  # the tag
    return name in FUSING_IMAGES
