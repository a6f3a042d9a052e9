"""Which exit statuses mean success: 0, grep's "no lines selected", or what the user states.

POSIX grep exits 1 when it selects no line and 2 on an error. A pipeline's status is its last
command's, so `cut -d, -f1 | grep Lisbon` over a file without Lisbon ends with 1 and writes
nothing to stderr: that file is "no match", not failed. Counting it as a failure made the most
common job of all (grep over a dataset) exit 1 with hundreds of "failed" files. `--ok-exit 0,1`
states the accepted statuses for any command instead, and turns the grep rule off. Pure logic.
"""

from __future__ import annotations

import shlex

from codsh.core.model import Outcome

GREPS = frozenset({"grep", "egrep", "fgrep", "zgrep"})
NO_MATCH_STATUS = 1
MAX_STATUS = 255


def judge(command: str, ok_exit: tuple[int, ...], code: int, stderr: bytes | str) -> Outcome:
    """The outcome of a command that ran to its end with status `code`: OK, NO_MATCH or EXITED.

    With `ok_exit` given, exactly those statuses are OK. Without, 0 is OK and 1 is NO_MATCH when
    the last command of the line is a grep and it wrote nothing to stderr."""
    if ok_exit:
        return Outcome.OK if code in ok_exit else Outcome.EXITED
    if code == 0:
        return Outcome.OK
    if code == NO_MATCH_STATUS and not stderr and ends_in_grep(command):
        return Outcome.NO_MATCH
    return Outcome.EXITED


def ends_in_grep(command: str) -> bool:
    """Whether the last simple command of `command`'s last pipeline is a grep (by its name)."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|()<>")
        lexer.whitespace_split = True
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: the spec check refuses it earlier anyway
        return False
    last: list[str] = []
    for token in tokens:
        if token and set(token) <= set(";&|()"):
            last = [] if token != ")" else last  # a new command starts after | ; && || &
        else:
            last.append(token)
    words = [w for w in _drop_redirections(last) if "=" not in w.split("/")[0]]
    while words and words[0] in ("exec", "command", "env", "nice", "time", "!"):
        words = words[1:]
    return bool(words) and words[0].rsplit("/", 1)[-1] in GREPS


def _drop_redirections(words: list[str]) -> list[str]:
    """`grep x <f 2>/dev/null` -> `grep x` (a redirection's operator and its target)."""
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
            continue
        if word in ("<", ">", ">>", "<<", "<>", ">&", "<&", ">|"):
            skip = True
            continue
        if word and word[-1] in "<>" and word.rstrip("<>").isdigit():  # 2> as one token
            skip = True
            continue
        kept.append(word)
    return kept


def parse_ok_exit(text: str) -> tuple[int, ...]:
    """`--ok-exit 0,1` -> (0, 1); a clear ValueError for anything else."""
    statuses: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part.isdigit() or not 0 <= int(part) <= MAX_STATUS:
            raise ValueError(f"{part!r} is not an exit status (0-{MAX_STATUS})")
        statuses.append(int(part))
    return tuple(sorted(set(statuses)))
