"""The SDK's keyword options (pure): checked as the CLI checks its flags."""

from __future__ import annotations

import pytest

from codsh.client.options import check_verify, run_parts
from codsh.errors import InputError


def test_max_price_goes_into_the_target_and_a_bad_one_is_refused() -> None:
    _, target = run_parts({"max_price": 0.5})
    assert target.max_price == 0.5 and run_parts({})[1].max_price is None
    for bad in (-1, float("nan"), "cheap"):
        with pytest.raises(InputError, match="max"):
            run_parts({"max_price": bad})


def test_verify_is_a_sample_and_implies_three_replicas() -> None:
    assert check_verify(None, 1) == (0.0, 1)
    assert check_verify("sample:0.1", 1) == (0.1, 3) and check_verify("sample:10%", 5) == (0.1, 5)
    with pytest.raises(InputError, match="verify='half'"):
        check_verify("half", 3)
