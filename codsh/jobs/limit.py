"""A job's price limit (`--max-price`): the execution is stopped once the bill of what it ran
reaches the limit; every file finished by then is kept (recorded, merged, remembered), so the
job ends partial and `codsh job resume` goes on with the rest. Counting is core/bill.Limit's."""

from __future__ import annotations

import trio

from codsh.core.bill import Limit
from codsh.core.model import FileResult, InputFile
from codsh.jobs.execution import OnFile, Ran, Run


async def execute_within(
    run: Run, files: list[InputFile], on_file: OnFile, limit: Limit
) -> tuple[Ran, bool]:
    """`run.execute(files, on_file)`, cancelled when `limit` is reached; (what ran, stopped).
    Stopped, what ran is every result reported before the stop (their outputs are stored)."""
    finished: list[FileResult] = []
    with trio.CancelScope() as scope:

        def report(result: FileResult) -> None:
            finished.append(result)
            on_file(result)
            if limit.add(result):
                scope.cancel()  # the execution's own cleanup stops its containers and tasks

        return await run.execute(files, report), False
    return Ran(finished), True
