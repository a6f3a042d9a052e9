"""The CID check without the decoder (core/unixfs.check_cid): it never accepts what the decoder
(multiformats) refuses, and it recognises the CIDs codsh and kubo write."""

from __future__ import annotations

import random

import pytest
from multiformats import CID

from codsh.core.unixfs import _plain_cid, check_cid, dag_pb_cid, is_cid, parse_cid, raw_cid


def decodes(text: str) -> bool:
    try:
        parse_cid(text)
    except ValueError:
        return False
    return True


def test_the_fast_check_accepts_only_what_the_decoder_accepts() -> None:
    rng = random.Random(5)
    valid = []
    for _ in range(300):
        block = rng.randbytes(rng.randint(0, 80))
        cid = dag_pb_cid(block)
        valid += [raw_cid(block), cid, str(CID.decode(cid).set(base="base58btc", version=0))]
    assert all(_plain_cid(text) for text in valid)  # the common forms need no decoder
    mutated = []
    for text in valid:
        chars = list(text)
        chars[rng.randrange(len(chars))] = rng.choice("abcxyz234567QmZ01")
        mutated += ["".join(chars), text[:-1], text + "a"]
    wrong = [text for text in valid + mutated if _plain_cid(text) and not decodes(text)]
    assert wrong == []


@pytest.mark.parametrize(
    "text",
    ["nightly", "bafy", "b", "", "Qm" + "1" * 44, "bafkqaaa/x", "codsh/busybox:latest", "a b"],
)
def test_names_and_typos_are_not_cids(text: str) -> None:
    assert not is_cid(text)
    assert not decodes(text)  # the decoder agrees


def test_the_decoder_still_says_why_and_other_bases_still_pass() -> None:
    with pytest.raises(ValueError):
        check_cid("bafyNOTACID")
    z = str(CID.decode(raw_cid(b"x")).encode("base58btc"))
    assert z.startswith("z") and is_cid(z) and is_cid("bafkqaaa")
