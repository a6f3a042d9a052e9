"""Pipeline stages and steps: parsing, fusion, barriers; pure logic, no daemons."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from codsh.core.pipeline import Stage, Step, can_fuse, group_steps, parse_stages
from codsh.errors import InputError

ISSUE_EXAMPLE = ["grep Lisbon", "cut -d, -f4", "--concat", "sort -n | uniq -c"]


def test_barriers_mark_the_stage_before_them() -> None:
    assert parse_stages(ISSUE_EXAMPLE) == [
        Stage("grep Lisbon"),
        Stage("cut -d, -f4", concat=True),
        Stage("sort -n | uniq -c"),
    ]


def test_per_file_stages_up_to_a_barrier_fuse_into_one_step() -> None:
    steps = group_steps(parse_stages(ISSUE_EXAMPLE))
    assert [len(s.stages) for s in steps] == [2, 1]
    assert [s.concat for s in steps] == [True, False]
    assert steps[1].command == "sort -n | uniq -c"  # a single stage runs as written


def test_without_fusion_every_stage_is_a_step() -> None:
    steps = group_steps(parse_stages(ISSUE_EXAMPLE), fuse=False)
    assert [s.command for s in steps] == ["grep Lisbon", "cut -d, -f4", "sort -n | uniq -c"]
    assert [s.concat for s in steps] == [False, True, False]


def test_consecutive_barriers_each_close_a_step() -> None:
    steps = group_steps(parse_stages(["cat", "--concat", "sort", "--concat", "uniq"]))
    assert [(s.command, s.concat) for s in steps] == [
        ("cat", True),
        ("sort", True),
        ("uniq", False),
    ]


def run_sh(command: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    """Run `command` under busybox sh, the shell of the codsh/busybox image (setup installs it)."""
    busybox = shutil.which("busybox")
    assert busybox, "busybox-static is installed by scripts/setup.sh"
    return subprocess.run([busybox, "sh", "-c", command], input=data, capture_output=True)


def test_a_fused_step_gives_what_the_stages_give_one_after_the_other() -> None:
    data = b"a,1 # x\nrain,2\nb,3\nrain,4\n"
    stages = [Stage("grep rain # a comment ends at the newline"), Stage("cut -d, -f2 | sort -r")]
    fused = run_sh(Step(tuple(stages)).command, data)
    one = run_sh(stages[0].command, data)
    two = run_sh(stages[1].command, one.stdout)
    assert fused.stdout == two.stdout == b"4\n2\n"
    assert fused.returncode == 0


def test_a_failing_stage_fails_the_fused_step_as_it_fails_alone() -> None:
    step = Step((Stage("grep snow"), Stage("wc -l")))  # grep exits 1, wc succeeds
    fused = run_sh(step.command, b"rain\n")
    assert fused.returncode == 1
    assert fused.stdout.strip() == b"0"  # the partial output is still handed on


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ([], "no stages"),
        (["--concat", "cat"], "before any stage"),
        (["cat", "--concat", "--concat"], "twice"),
        (["cat", ""], "stage 2 is empty"),
        (["cat", "   "], "stage 2 is empty"),
        (["cat", "--bogus"], "unknown option"),
        (["grep 'a"], "cannot parse"),
    ],
)
def test_bad_stages_are_clear_errors(words: list[str], message: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_stages(words)
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("image", "fuses"),
    [
        ("codsh/busybox", True),
        ("codsh/busybox:latest", True),
        ("codsh/busybox@sha256:abc", True),
        ("debian:12", False),
        ("localhost:5000/codsh/busybox", False),
    ],
)
def test_only_images_whose_shell_has_pipefail_fuse(image: str, fuses: bool) -> None:
    assert can_fuse(image) is fuses
