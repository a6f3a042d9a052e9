"""Commit before reveal: a replica's answer travels first as a hash, and is opened only once every
replica of the file has committed. Pure logic, shared by the nodes (seal) and the driver (unseal).

Outputs are public CIDs, and the per-file messages and shard answers pass through Dask, where any
worker can read the scheduler's event log and ask another worker for a task's result. A lazy node
could wait for an honest replica's output CID and send it as its own, be paid, and never run. So in
a replicated job a node sends, instead of its output CID, `commitment = sha256(job, file, its input
CID, the node, outcome, exit code, output CID, a random nonce)` and keeps the opening (nonce and
output) to itself; the driver asks each node to open its commitments (a direct `client.run`, not a
task result other workers can fetch) only when all the file's replicas have committed.

What it protects: a node cannot copy another's answer from what it can see, because a commitment
reveals nothing of the output and is bound to the node that made it: a copied commitment cannot be
opened by the copier, and the node is recorded as having broken the protocol (outvoted). What it does
not protect: nodes that collude out of band (they share outputs before committing, so they agree on
anything: replicas on independent parties, and `--verify` sampling, are the defence), a node that
runs the command and lies consistently with another, and the driver itself (it is trusted: it is
where the user's job is decided).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from typing import Any

from codsh.core.model import FileResult

VERSION = 1  # of the hashed text: a change of what is hashed gets a new one


def commitment(job: str, result: FileResult, node: str, output_cid: str | None, nonce: str) -> str:
    """The hash a node commits to for one file's answer (hex)."""
    fields = [
        VERSION,
        job,
        result.path,
        result.input_cid,
        node,
        str(result.outcome),
        result.exit_code,
        output_cid,
        nonce,
    ]
    text = json.dumps(fields, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Opening:
    """What a node keeps back until asked: the nonce and the output the commitment hides."""

    nonce: str
    output_cid: str | None
    output_size: int
    output_tsize: int

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))

    @classmethod
    def from_dict(cls, entry: Any) -> Opening | None:
        """An opening from a node's answer; None when it is not one (a node may send anything)."""
        try:
            return cls(
                str(entry["nonce"]),
                None if entry["output_cid"] is None else str(entry["output_cid"]),
                int(entry["output_size"]),
                int(entry["output_tsize"]),
            )
        except (KeyError, TypeError, ValueError):
            return None


def seal(result: FileResult, job: str, node: str, nonce: str) -> tuple[FileResult, Opening]:
    """The result as sent (its output replaced by the commitment) and the opening kept back."""
    opening = Opening(nonce, result.output_cid, result.output_size, result.output_tsize)
    digest = commitment(job, result, node, result.output_cid, nonce)
    sealed = replace(result, output_cid=None, output_size=0, output_tsize=0, commitment=digest)
    return sealed, opening


def unseal(sealed: FileResult, opening: Opening | None, job: str) -> FileResult | None:
    """The answer behind `sealed` when `opening` opens its commitment for the node the driver
    knows sent it (`sealed.node`); None when it does not."""
    if opening is None or sealed.commitment is None:
        return None
    expected = commitment(job, sealed, sealed.node, opening.output_cid, opening.nonce)
    if not hmac.compare_digest(expected, sealed.commitment):
        return None
    return replace(
        sealed,
        output_cid=opening.output_cid,
        output_size=opening.output_size,
        output_tsize=opening.output_tsize,
    )
