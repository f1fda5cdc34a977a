"""Export / restore mid-stream continues exactly as the original, event for event."""

from __future__ import annotations

import random

import pytest
from bench.streams import build_stream
from hypothesis import given, settings
from hypothesis import strategies as st

from matching.engine import BookSnapshot, OrderBook
from matching.engine.tests.helpers import RandomStream, check_internals, norm


def restored_copy(book: OrderBook, rng: random.Random) -> OrderBook:
    """Restore from ``book``'s snapshot with orders and stops shuffled (as rows come from SQL)."""
    snap = book.export()
    orders, stops = list(snap.orders), list(snap.stops)
    rng.shuffle(orders)
    rng.shuffle(stops)
    copy = OrderBook.restore(snap._replace(orders=orders, stops=stops))
    assert copy.export() == snap
    check_internals(copy)
    return copy


@settings(max_examples=100, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    owners=st.integers(1, 4),
    cuts=st.sets(st.integers(0, 299), max_size=4),
)
def test_restore_at_random_points_continues_identically(
    seed: int, owners: int, cuts: set[int]
) -> None:
    rng = random.Random(seed)
    stream = RandomStream(seed, owners=owners)
    original = OrderBook()
    copies: list[OrderBook] = []
    for step in range(300):
        if step in cuts:
            original.take_depth_changes()  # pending changes are not part of a snapshot
            copies.append(restored_copy(original, rng))
        cmd = stream.command(original)
        expected = norm(original.apply(cmd))
        changes = original.take_depth_changes()
        for copy in copies:
            assert norm(copy.apply(cmd)) == expected, f"step {step}: {cmd}"
            assert copy.take_depth_changes() == changes
    for copy in copies:
        assert copy.export() == original.export()
        assert copy.depth() == original.depth()
        check_internals(copy)


def test_restore_on_a_deep_book_from_the_bench_stream() -> None:
    cmds = build_stream(20_000, seed=7)
    rng = random.Random(7)
    original = OrderBook()
    copies: list[OrderBook] = []
    cuts = {1_000, 5_000, 12_345, 19_999}
    for i, cmd in enumerate(cmds):
        if i in cuts:
            copies.append(restored_copy(original, rng))
        expected = norm(original.apply(cmd))
        for copy in copies:
            assert norm(copy.apply(cmd)) == expected, f"command {i}"
    assert len(original.export().orders) > 1_000, "the bench stream builds a deep book"
    for copy in copies:
        assert copy.export() == original.export()


def test_restore_rejects_an_inconsistent_snapshot() -> None:
    book = OrderBook()
    from matching.engine import OrderType, PlaceOrder, Side, TimeInForce

    book.apply(PlaceOrder(1, 7, Side.BUY, OrderType.LIMIT, TimeInForce.GTC, 100, 2))
    snap = book.export()
    with pytest.raises(ValueError, match="bad snapshot order"):
        OrderBook.restore(snap._replace(orders=snap.orders * 2))
    filled = snap.orders[0]._replace(filled_lots=2)
    with pytest.raises(ValueError, match="bad snapshot order"):
        OrderBook.restore(snap._replace(orders=[filled]))
    empty = BookSnapshot(snap.state, 5, 9, 0, [], [])
    restored = OrderBook.restore(empty)
    assert (restored.last_seq, restored.update_id, restored.take_depth_changes()) == (5, 9, None)
