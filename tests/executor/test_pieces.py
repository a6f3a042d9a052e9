"""codsh.executor.pieces: one file's queued pieces join, files stay apart and come in order, an
error ends its file, the bytes held stop the producer, and close/finish end either side."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from codsh.executor.pieces import END, Pieces
from tests.conftest import run

DEADLINE = 10.0  # a consumer or producer left waiting fails the test, not the run


class Failed(Exception):
    pass


async def queued(pieces: Pieces[Failed], *items: tuple[int, bytes | Failed | None]) -> None:
    for index, piece in items:
        await pieces.send(index, piece)


async def read(pieces: Pieces[Failed], index: int) -> list[bytes | Failed]:
    return [piece async for piece in pieces.of(index)]


def test_pieces_of_one_file_queued_while_the_consumer_is_busy_come_out_joined() -> None:
    async def main() -> list[bytes | Failed]:
        pieces = Pieces[Failed]()
        await queued(pieces, (0, b"ab"), (0, b"cd"), (0, b"e"), (0, END))
        return await read(pieces, 0)

    got = run(main, deadline=DEADLINE)
    assert got == [b"abcde"] and type(got[0]) is bytes


def test_a_waiting_consumer_gets_a_piece_without_waiting_for_more() -> None:
    async def main() -> list[tuple[int, bytes | Failed | None]]:
        pieces = Pieces[Failed]()
        more = trio.Event()

        async def produce() -> None:
            await pieces.send(0, b"first")
            await more.wait()  # the rest comes only once the first piece was taken
            await pieces.send(0, b"second")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(produce)
            first = await pieces.take()
            more.set()
            return [first, await pieces.take()]

    assert run(main, deadline=DEADLINE) == [(0, b"first"), (0, b"second")]


def test_pieces_of_different_files_and_across_an_end_are_not_joined() -> None:
    async def main() -> list[tuple[int, bytes | Failed | None]]:
        pieces = Pieces[Failed]()
        await queued(pieces, (0, b"a"), (1, b"b"), (1, b"c"), (1, END), (2, b"d"), (1, b"e"))
        pieces.finish()
        return [await pieces.take() for _ in range(5)]

    assert run(main, deadline=DEADLINE) == [(0, b"a"), (1, b"bc"), (1, END), (2, b"d"), (1, b"e")]


def test_a_consumer_asking_for_file_2_skips_what_files_0_and_1_left() -> None:
    async def main() -> tuple[list[bytes | Failed], list[bytes | Failed]]:
        pieces = Pieces[Failed]()
        error = Failed("file 1")
        await queued(pieces, (0, b"zero"), (0, END), (1, b"one"), (1, error), (2, b"two"))
        await queued(pieces, (2, END), (3, b"three"), (3, END))
        return await read(pieces, 2), await read(pieces, 3)

    assert run(main, deadline=DEADLINE) == ([b"two"], [b"three"])


def test_an_error_item_is_yielded_last_and_ends_its_file() -> None:
    async def main() -> list[bytes | Failed]:
        pieces = Pieces[Failed]()
        error = Failed("short read")
        await queued(pieces, (0, b"abc"), (0, error), (0, b"late"), (0, END), (1, b"next"))
        await queued(pieces, (1, END))
        assert await read(pieces, 0) == [b"abc", error]  # the same object: compared by identity
        return await read(pieces, 1)

    assert run(main, deadline=DEADLINE) == [b"next"]


def test_a_file_asked_for_before_its_turn_puts_back_the_later_files_piece() -> None:
    async def main() -> tuple[list[bytes | Failed], list[bytes | Failed]]:
        pieces = Pieces[Failed]()
        await queued(pieces, (1, b"one"), (1, END))
        return await read(pieces, 0), await read(pieces, 1)

    assert run(main, deadline=DEADLINE) == ([], [b"one"])


def test_put_back_makes_the_item_the_next_one_taken_and_still_joins() -> None:
    async def main() -> list[tuple[int, bytes | Failed | None]]:
        pieces = Pieces[Failed]()
        await queued(pieces, (0, b"a"), (1, b"b"))
        pieces.put_back(*await pieces.take())
        pieces.put_back(5, END)
        await queued(pieces, (1, b"c"))
        pieces.finish()
        return [await pieces.take() for _ in range(3)]

    assert run(main, deadline=DEADLINE) == [(5, END), (0, b"a"), (1, b"bc")]


async def blocked_send(nursery: trio.Nursery, pieces: Pieces[Failed], piece: bytes) -> list[str]:
    """Start a send of `piece` and let every task block; the log says whether it finished."""
    log: list[str] = []

    async def send() -> None:
        await pieces.send(0, piece)
        log.append("sent")

    nursery.start_soon(send)
    await trio.testing.wait_all_tasks_blocked()
    return log


def test_the_producer_waits_at_the_limit_and_resumes_when_the_consumer_takes() -> None:
    async def main() -> None:
        pieces = Pieces[Failed](limit=10)
        await queued(pieces, (0, b"12345"), (0, b"67890"))  # 10 bytes: the next send waits
        async with trio.open_nursery() as nursery:
            log = await blocked_send(nursery, pieces, b"x")
            assert log == []
            assert await pieces.take() == (0, b"1234567890")
            await trio.testing.wait_all_tasks_blocked()
            assert log == ["sent"]
        assert await pieces.take() == (0, b"x")

    run(main, deadline=DEADLINE)


def test_the_producer_does_not_wait_below_the_limit() -> None:
    async def main() -> None:
        pieces = Pieces[Failed](limit=10)
        await queued(pieces, (0, b"123456789"), (0, END))  # END holds no bytes
        async with trio.open_nursery() as nursery:
            assert await blocked_send(nursery, pieces, b"a long piece over the limit") == ["sent"]
            log = await blocked_send(nursery, pieces, b"!")  # 36 bytes held now
            assert log == []
            assert await pieces.take() == (0, b"123456789")
            assert await pieces.take() == (0, END)
            await trio.testing.wait_all_tasks_blocked()
            assert log == []  # still 27 held
            assert await pieces.take() == (0, b"a long piece over the limit")
        assert log == ["sent"]

    run(main, deadline=DEADLINE)


def test_bytes_put_back_count_towards_the_limit() -> None:
    async def main() -> None:
        pieces = Pieces[Failed](limit=4)
        await queued(pieces, (0, b"abcd"))
        index, piece = await pieces.take()
        pieces.put_back(index, piece)
        async with trio.open_nursery() as nursery:
            log = await blocked_send(nursery, pieces, b"e")
            assert log == []
            assert await pieces.take() == (0, b"abcd")
        assert log == ["sent"]
        assert await pieces.take() == (0, b"e")

    run(main, deadline=DEADLINE)


def test_close_makes_the_next_send_raise_and_wakes_a_waiting_producer() -> None:
    async def main() -> None:
        pieces = Pieces[Failed](limit=2)
        await queued(pieces, (0, b"ab"))
        with pytest.RaisesGroup(trio.BrokenResourceError):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(queued, pieces, (0, b"c"))
                await trio.testing.wait_all_tasks_blocked()
                pieces.close()
        with pytest.raises(trio.BrokenResourceError):
            await pieces.send(1, END)
        with pytest.raises(trio.ClosedResourceError):
            await pieces.take()  # what was held is dropped

    run(main, deadline=DEADLINE)


def test_finish_wakes_a_consumer_past_the_end_with_end_of_channel() -> None:
    async def main() -> list[bytes | Failed]:
        pieces, got = Pieces[Failed](), []
        await queued(pieces, (0, b"last"), (0, END))

        async def consume() -> None:
            got.extend(await read(pieces, 0))
            await read(pieces, 1)

        with pytest.RaisesGroup(trio.EndOfChannel):
            async with trio.open_nursery() as nursery:
                nursery.start_soon(consume)
                await trio.testing.wait_all_tasks_blocked()  # it waits for file 1
                pieces.finish()
        with pytest.raises(trio.EndOfChannel):
            await pieces.take()
        return got

    assert run(main, deadline=DEADLINE) == [b"last"]


def test_a_bytearray_sent_is_copied_counted_and_never_changed() -> None:
    async def main() -> tuple[list[bytes | Failed | None], bytearray]:
        pieces = Pieces[Failed](limit=4)
        theirs = bytearray(b"abc")
        await pieces.send(0, theirs)
        await pieces.send(0, b"d")  # joined onto our copy, not onto theirs
        with trio.move_on_after(0.2) as waited:  # 4 bytes held: the limit
            await pieces.send(0, b"e")
        assert waited.cancelled_caught
        return [(await pieces.take())[1]], theirs

    got, theirs = run(main, deadline=DEADLINE)
    assert got == [b"abcd"] and theirs == bytearray(b"abc")
