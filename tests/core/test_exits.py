"""Which exit statuses mean success: grep's "no match" rule and --ok-exit (pure, no daemons)."""

from __future__ import annotations

import pytest

from codsh.core.exits import ends_in_grep, judge, parse_ok_exit
from codsh.core.model import Outcome


@pytest.mark.parametrize(
    "command",
    [
        "grep rain",
        "cut -d, -f6 | grep 1",
        "LC_ALL=C grep -i x <in 2>/dev/null",
        "/bin/grep -E 'a|b'",
        "zgrep x",
        "egrep 'x;y'",
        "(cat; grep x)",
        "sed 1d | egrep -c x",
        "exec fgrep x",
    ],
)
def test_pipelines_that_end_in_grep(command: str) -> None:
    assert ends_in_grep(command)


@pytest.mark.parametrize(
    "command",
    ["grep x | cut -f1", "grep x && echo y", "sed 's/grep//'", "echo grep", "sh -c 'grep x'", ""],
)
def test_pipelines_that_do_not_end_in_grep(command: str) -> None:
    assert not ends_in_grep(command)


def test_grep_finding_nothing_is_no_match_not_a_failure() -> None:
    assert judge("grep Lisbon", (), 1, b"") is Outcome.NO_MATCH
    assert judge("cut -d, -f1 | grep Lisbon", (), 1, "") is Outcome.NO_MATCH
    assert judge("grep -c Lisbon", (), 1, b"") is Outcome.NO_MATCH  # prints 0, exits 1


def test_a_genuine_grep_error_still_fails() -> None:
    assert judge("grep '['", (), 2, b"grep: unmatched [") is Outcome.EXITED
    assert judge("grep x missing.txt", (), 1, b"grep: missing.txt: No such file") is Outcome.EXITED


def test_status_1_of_other_commands_fails() -> None:
    assert judge("grep x | cut -f1", (), 1, b"") is Outcome.EXITED
    assert judge("false", (), 1, b"") is Outcome.EXITED
    assert judge("sed 1d", (), 0, b"warning") is Outcome.OK


def test_ok_exit_states_the_accepted_statuses_and_turns_the_grep_rule_off() -> None:
    assert judge("diff a b", (0, 1), 1, b"") is Outcome.OK
    assert judge("grep x", (0,), 1, b"") is Outcome.EXITED
    assert judge("grep x", (0, 2), 2, b"oops") is Outcome.OK


def test_parse_ok_exit() -> None:
    assert parse_ok_exit("1, 0,1") == (0, 1)
    for bad in ("", "x", "-1", "256", "0,,1"):
        with pytest.raises(ValueError, match="not an exit status"):
            parse_ok_exit(bad)
