"""The quote: what a job will cost, from a few of its files run first. Pure logic.

The sample is stratified by size: the files sorted by (size, path) are cut into as many bands
of near-equal count as files are sampled (about 1% of them, at least 12, at most 30), and each
band's middle file is run. Cost grows with size (bytes read, written, CPU over them) and every
file also pays a fixed part (a shell start, a request each way), so the sample's costs are fitted
as `per_file + per_byte x size` (least squares) and the job is priced as per_file x its files +
per_byte x its bytes: scaled by bytes, without pricing a thousand small files as one big one. A
container's start is paid by its first file: the sample starts nearly as many containers as the
job (one per node slot) over far fewer files, so that part is priced per container (`estimate`).

The range is the estimate divided and multiplied by 1 + two standard errors of the sampled
files' relative deviation from that fit (costs are positive: the range is one in ratio, never
down to 0): the more the per-byte cost spreads in the sample, the wider it is. A job whose every
file was sampled is priced exactly (the range is the estimate).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from codsh.core.model import InputFile

SAMPLE_FRACTION = 0.01
SAMPLE_MIN = 12  # enough for warm files: each container a node starts has one cold first file
SAMPLE_MAX = 30


@dataclass(frozen=True)
class Band:
    """Files of similar size, priced from one of them (`pick`)."""

    pick: InputFile
    files: int
    bytes: int


@dataclass(frozen=True)
class Quote:
    estimate: float
    low: float
    high: float
    files: int
    bytes: int
    sampled: int  # files run for the quote
    sampled_bytes: int
    sample_cost: float  # what running them cost (paid: their results are remembered)
    replicas: int = 1

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def line(self) -> str:
        """One line for a person: the estimate, its range, and how it was made."""
        return (
            f"quote: {self.estimate:.6g} (range {self.low:.6g} to {self.high:.6g}) for "
            f"{self.files} files, {self.bytes} bytes"
            + (f", {self.replicas} replicas" if self.replicas > 1 else "")
            + f"; from {self.sampled} sampled files ({self.sampled_bytes} bytes, "
            f"which cost {self.sample_cost:.6g} and are remembered)"
        )


def sample_size(count: int) -> int:
    """How many of `count` files the quote runs."""
    wanted = max(SAMPLE_MIN, min(SAMPLE_MAX, math.ceil(count * SAMPLE_FRACTION)))
    return min(count, wanted)


def bands(files: Sequence[InputFile]) -> list[Band]:
    """The size bands of `files` and the file each is priced from (deterministic: by size,
    then path). Files with the same input CID count once (the job runs them once)."""
    distinct = sorted({f.cid: f for f in files}.values(), key=lambda f: (f.size, f.path))
    count = sample_size(len(distinct))
    out: list[Band] = []
    for index in range(count):
        start, end = len(distinct) * index // count, len(distinct) * (index + 1) // count
        band = distinct[start:end]
        out.append(Band(band[(len(band) - 1) // 2], len(band), sum(f.size for f in band)))
    return out


def estimate(
    bands: Sequence[Band],
    costs: Mapping[str, float],
    replicas: int = 1,
    starts: Mapping[str, int] | None = None,
    shard_size: int = 1000,
) -> Quote:
    """The quote from each band's sampled file's cost (`costs`: by the pick's input CID, every
    replica's run included; a pick missing from it was lost and is left out of the fit).

    `starts`: how many containers each pick's runs started (a replica each, at most). A
    container's start is paid by its first file; the sample has few files per container, the
    job many. So with at least two warm picks (no start) the fit is theirs, and the job pays the
    mean excess per start of the others once per container: as many as the sample started (the
    nodes' slots), or `replicas` per `shard_size` files when that is more. Without two warm
    picks every pick counts as it was (on the high side for jobs of many small files)."""
    known = [b for b in bands if b.pick.cid in costs]
    if not known:
        raise ValueError("no sampled file was metered")
    points = [(float(b.pick.size), costs[b.pick.cid]) for b in known]
    started = {b.pick.cid: (starts or {}).get(b.pick.cid, 0) for b in known}
    warm = [(float(b.pick.size), costs[b.pick.cid]) for b in known if not started[b.pick.cid]]
    first = [(b.pick, started[b.pick.cid]) for b in known if started[b.pick.cid]]
    files, size = sum(b.files for b in bands), sum(b.bytes for b in bands)
    if len(warm) >= 2 and first:
        per_file, per_byte = fit(warm)
        excess = sum(costs[f.cid] - (per_file + per_byte * f.size) for f, _ in first)
        count = sum(n for _, n in first)
        start = max(0.0, excess / count)
        containers = max(count, replicas * math.ceil(files / max(1, shard_size)))
        total = per_file * files + per_byte * size + start * containers
        spread = relative_error(warm, per_file, per_byte)
    else:
        per_file, per_byte = fit(points)
        total = per_file * files + per_byte * size
        spread = relative_error(points, per_file, per_byte)
    if all(b.files == 1 for b in known) and len(known) == len(bands):
        total, spread = sum(c for _, c in points), 0.0  # every file was run: its bill
    return Quote(
        estimate=round(total, 12),
        low=round(total / (1 + spread), 12),
        high=round(total * (1 + spread), 12),
        files=files,
        bytes=size,
        sampled=len(known),
        sampled_bytes=sum(b.pick.size for b in known),
        sample_cost=round(sum(c for _, c in points), 12),
        replicas=replicas,
    )


def fit(points: Sequence[tuple[float, float]]) -> tuple[float, float]:
    """cost = per_file + per_byte x size, by least squares over (size, cost), neither negative
    (a negative part is dropped and the other refitted alone)."""
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:  # all one size: nothing tells the parts apart; price it per file
        return mean_y, 0.0
    per_byte = sum((x - mean_x) * (y - mean_y) for x, y in points) / var
    per_file = mean_y - per_byte * mean_x
    if per_byte < 0:
        return mean_y, 0.0
    if per_file < 0:
        return 0.0, sum(x * y for x, y in points) / sum(x * x for x, _ in points)
    return per_file, per_byte


def relative_error(
    points: Sequence[tuple[float, float]], per_file: float, per_byte: float
) -> float:
    """Two standard errors of the sampled files' relative deviation from the fit (the range's
    half-width, as a fraction of the estimate); with fewer than 3 points, their widest one."""
    deviations = []
    for size, cost in points:
        predicted = per_file + per_byte * size
        deviations.append((cost - predicted) / predicted if predicted > 0 else 0.0)
    if len(points) < 3:
        return max((abs(d) for d in deviations), default=0.0)
    variance = sum(d * d for d in deviations) / (len(points) - 2)
    return 2 * math.sqrt(variance / len(points))
