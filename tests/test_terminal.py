"""The CLI's lines on stderr (codsh/terminal.py): plain text and no rich off a terminal."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
from rich.console import Console
from rich.filesize import decimal as rich_decimal

from codsh.terminal import decimal, stderr

FORCING = ("FORCE_COLOR", "TTY_COMPATIBLE")  # what makes rich (and codsh) take any file for a TTY


def unforced(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in FORCING:
        monkeypatch.delenv(name, raising=False)


def test_off_a_terminal_only_the_cli_styles_are_taken_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A "[...]" in a path or a message (a sed range, a list) is printed as it is."""
    unforced(monkeypatch)
    stderr.print("[green]3 files[/] | [red]failed[/] 'logs/[a-z].txt': exit 1 []")
    stderr.print("[bold]kept[/bold] as is", markup=False)
    assert capsys.readouterr().err == (
        "3 files | failed 'logs/[a-z].txt': exit 1 []\n[bold]kept[/bold] as is\n"
    )


@pytest.mark.parametrize(
    ("environ", "terminal"),
    [
        ({}, False),
        ({"FORCE_COLOR": "1"}, True),
        ({"FORCE_COLOR": ""}, False),
        ({"TTY_COMPATIBLE": "1"}, True),
        ({"TTY_COMPATIBLE": "0", "FORCE_COLOR": "1"}, False),
    ],
)
def test_a_terminal_is_what_rich_takes_for_one(
    environ: dict[str, str], terminal: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FORCE_COLOR in CI logs still gets the colours and the bar, as before this module."""
    unforced(monkeypatch)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert stderr.is_terminal is terminal
    assert Console(stderr=True).is_terminal is terminal


def test_sizes_read_as_rich_writes_them() -> None:
    sizes = [0, 1, 2, 999, 1000, 1499, 10**6, 10**24, 10**27]
    sizes += [random.randrange(10 ** random.randrange(1, 28)) for _ in range(2000)]
    assert [decimal(n) for n in sizes] == [rich_decimal(n) for n in sizes]


def test_a_summary_off_a_terminal_does_not_load_rich() -> None:
    """rich costs ~20-50 ms of a trivial job's 0.3 s; piped or scripted runs skip it."""
    code = (
        "import sys\n"
        "from codsh.commands import remote\n"
        "from codsh.progress import JobProgress\n"
        "with JobProgress(enabled=False) as bar:\n"
        "    bar.counted(1, 10)\n"
        "record = {'id': 'j1', 'state': 'succeeded', 'files': 1, 'failed': 0, 'seconds': 0.1,"
        " 'manifest': 'bafy'}\n"
        "remote.summary(record, 'https://127.0.0.1:1')\n"
        "assert not [m for m in sys.modules if m.startswith('rich')], 'rich was loaded'\n"
    )
    plain = {k: v for k, v in os.environ.items() if k not in FORCING}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, env=plain
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("1 files, 1 ok, 0 failed | 0.10s | job j1 on https://")
