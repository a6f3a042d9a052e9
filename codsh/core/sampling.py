"""Sampled verification, `--verify sample:P`: cheaper than running every file N times. Pure logic.

In the spirit of BOINC's adaptive replication: every file runs once where it is stored, and a
random fraction P of them (chosen by the driver with a secret random source, so a node cannot know
which of its files will be checked) also runs on N-1 other nodes and is voted on. Every file of a
node the tally shows outvoted before is checked too. A node that lies on c of n files is caught
(outvoted on at least one) with the chance `catch_chance`; one caught is on record (`codsh node
list`), and from then on all its files are checked.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence

PREFIX = "sample:"
DEFAULT_VERIFY_REPLICAS = 3  # runs of a checked file when --verify comes without --replicas


def parse_verify(text: str) -> float:
    """`sample:P` (0 < P <= 1, or a percentage like `sample:10%`) -> P; ValueError saying why."""
    if not text.startswith(PREFIX):
        raise ValueError(f"{text!r} is not sample:P (e.g. sample:0.1 checks a tenth of the files)")
    value = text[len(PREFIX) :].strip()
    try:
        fraction = float(value[:-1]) / 100 if value.endswith("%") else float(value)
    except ValueError:
        raise ValueError(f"{value!r} in {text!r} is not a number (e.g. sample:0.1)") from None
    if not 0 < fraction <= 1 or math.isnan(fraction):
        raise ValueError(f"the fraction in {text!r} must be more than 0 and at most 1")
    return fraction


def sample(
    paths: Sequence[str], fraction: float, always: Collection[str], rng: random.Random
) -> frozenset[str]:
    """The files whose replicas run: ceil(fraction x n) of `paths` at random (at least one), and
    every path in `always` (the files of nodes outvoted before)."""
    if not paths:
        return frozenset()
    count = min(len(paths), max(1, math.ceil(fraction * len(paths))))
    return frozenset(rng.sample(sorted(paths), count)) | frozenset(always)


def catch_chance(files: int, checked: int, lied: int) -> float:
    """The chance that at least one of `lied` files (of `files`) is among `checked` chosen at
    random: 1 - C(files - checked, lied) / C(files, lied)."""
    if lied <= 0 or checked <= 0:
        return 0.0
    if files - checked < lied:
        return 1.0
    missed = 1.0
    for index in range(lied):
        missed *= (files - checked - index) / (files - index)
    return 1.0 - missed


def chance_line(files: int, checked: int, replicas: int) -> str:
    """What a sampled job's summary says about what it checked."""
    chances = ", ".join(
        f"{'' if lied == 1 else 'on '}{lied}: {catch_chance(files, checked, lied):.0%}"
        for lied in (1, 5, 20)
        if lied <= files
    )
    return (
        f"verified {checked} of {files} file(s) on {replicas} replicas; the chance to catch "
        f"a node that lies on {chances.replace('1:', '1 file:', 1)}"
    )
