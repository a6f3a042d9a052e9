"""The quote: a stratified sample by size, scaled by bytes per band, with a range."""

from __future__ import annotations

import pytest

from codsh.core.model import InputFile
from codsh.core.quote import SAMPLE_MAX, Band, bands, estimate, sample_size


def files(sizes: list[int]) -> list[InputFile]:
    return [InputFile(f"f{i:04}", f"bafy{i}", size) for i, size in enumerate(sizes)]


def test_sample_size_is_about_one_percent_at_least_twelve_capped() -> None:
    sizes = [sample_size(n) for n in (0, 1, 2, 3, 10, 299, 1201, 2000, 10**6)]
    assert sizes == [0, 1, 2, 3, 10, 12, 13, 20, SAMPLE_MAX]


def test_bands_spread_the_sample_over_size_quantiles_deterministically() -> None:
    tree = files([i * 10 for i in range(1000)])[::-1]  # any order in: the same bands out
    cut = bands(tree)
    assert len(cut) == 12 and sum(b.files for b in cut) == 1000
    picks = [b.pick.size for b in cut]
    assert picks == sorted(picks) and picks[0] < 1000 and picks[-1] > 9000
    assert cut == bands(list(reversed(tree)))
    assert sum(b.bytes for b in cut) == sum(f.size for f in tree)


def test_identical_files_are_one_run_and_count_once() -> None:
    twins = [InputFile(f"p{i}", "bafysame", 100) for i in range(5)] + files([7])
    assert [b.files for b in bands(twins)] == [1, 1]


def test_the_estimate_scales_each_band_by_its_bytes() -> None:
    cut = bands(files([100] * 50 + [10_000] * 50))  # 3 bands: small, mixed, large
    costs = {b.pick.cid: b.pick.size * 2.0 for b in cut}  # cost exactly proportional to bytes
    quote = estimate(cut, costs)
    assert quote.estimate == pytest.approx(2.0 * (100 * 50 + 10_000 * 50))
    assert quote.low == pytest.approx(quote.estimate) == pytest.approx(quote.high)
    assert quote.sampled == 12 and quote.sample_cost == pytest.approx(sum(costs.values()))


def test_a_per_file_part_is_not_scaled_as_bytes() -> None:
    cut = bands(files([100] * 50 + [10_000] * 50))
    costs = {b.pick.cid: 1.0 + b.pick.size * 0.001 for b in cut}  # a fixed part per file
    quote = estimate(cut, costs)
    assert quote.estimate == pytest.approx(100 * 1.0 + 0.001 * (100 * 50 + 10_000 * 50))
    assert quote.low == pytest.approx(quote.estimate)  # the sample fits exactly: no spread


def test_the_range_widens_with_the_spread_of_per_byte_cost() -> None:
    tree = files([1000 + i for i in range(2000)])  # 20 bands of about the same size
    cut = bands(tree)
    steady = estimate(cut, {b.pick.cid: 1.0 for b in cut})
    noisy = estimate(cut, {b.pick.cid: 1.0 + (0.5 if i % 2 else -0.5) for i, b in enumerate(cut)})
    assert steady.low == steady.high == steady.estimate == pytest.approx(2000.0)
    assert noisy.low < noisy.estimate < noisy.high
    assert 0.1 < (noisy.high - noisy.estimate) / noisy.estimate < 0.5


def test_a_job_whose_every_file_was_sampled_is_priced_exactly() -> None:
    cut = bands(files([5, 50, 500]))
    costs = {b.pick.cid: float(b.pick.size) + 1 for b in cut}
    quote = estimate(cut, costs, replicas=3)
    assert quote.estimate == quote.low == quote.high == 558.0
    assert "3 replicas" in quote.line() and "range 558 to 558" in quote.line()


def test_a_lost_pick_is_left_out_and_negative_parts_are_dropped() -> None:
    cut = [
        Band(InputFile("e", "bafye", 0), 10, 0),
        Band(InputFile("a", "bafya", 100), 10, 1000),
        Band(InputFile("b", "bafyb", 200), 10, 2000),
    ]
    quote = estimate(cut, {"bafye": 0.5, "bafya": 1.0})  # b's run was lost
    assert quote.estimate == pytest.approx(0.5 * 30 + 0.005 * 3000) and quote.sampled == 2
    falling = estimate(cut, {"bafye": 3.0, "bafya": 2.0, "bafyb": 1.0})  # bigger is cheaper?
    assert falling.estimate == pytest.approx(2.0 * 30)  # then it is priced per file
    with pytest.raises(ValueError, match="no sampled file"):
        estimate(cut, {})


def test_a_containers_start_paid_by_its_first_file_is_priced_per_container() -> None:
    cut = bands(files([1000 + i for i in range(3000)]))  # 30 bands of about 1 kB
    cold = {b.pick.cid for b in cut[:6]}  # 3 nodes x 2 slots: six containers, six first files
    costs = {b.pick.cid: 1.0 + (40.0 if b.pick.cid in cold else 0.0) for b in cut}
    starts = {cid: 1 for cid in cold}
    quote = estimate(cut, costs, starts=starts, shard_size=1000)
    assert quote.estimate == pytest.approx(3000 * 1.0 + 6 * 40.0)  # not 3000 x 9
    one_shard_each = estimate(cut, costs, starts=starts, shard_size=100)  # 30 containers
    assert one_shard_each.estimate == pytest.approx(3000 * 1.0 + 30 * 40.0)
    assert estimate(cut, costs).estimate == pytest.approx(3000 * 9.0)  # unknown: as it was
    starts3 = {cid: 3 for cid in cold}  # each of its 3 replicas started a container
    costs3 = {b.pick.cid: 3.0 + 40.0 * starts3.get(b.pick.cid, 0) for b in cut}
    three = estimate(cut, costs3, 3, starts3, shard_size=100)
    assert three.estimate == pytest.approx(3 * 3000 + 90 * 40.0)  # replicas: 3 per shard
