"""Engine vs naive reference on long seeded random streams (cheaper per step than hypothesis).

Each stream mixes every command and order type over a 9-tick price range with few owners, so
crossing, STP, stops and amends are frequent. Every event is compared and every invariant of
``helpers.Checker`` is checked after every command.
"""

from __future__ import annotations

import pytest

from matching.engine import OrderBook
from matching.engine.tests.helpers import Checker, RandomStream, norm
from matching.engine.tests.reference import RefBook


@pytest.mark.parametrize(
    ("seed", "owners", "steps"),
    [(seed, 1 + seed % 4, 2500) for seed in range(24)] + [(100, 2, 10000)],
)
def test_engine_matches_reference(seed: int, owners: int, steps: int) -> None:
    stream = RandomStream(seed, owners=owners)
    book, ref, checker = OrderBook(), RefBook(), Checker()
    for step in range(steps):
        cmd = stream.command(book)
        seq_before = book.last_seq
        events = book.apply(cmd)
        expected = ref.apply(cmd)
        assert norm(events) == expected, f"step {step}: {cmd}"
        assert book.update_id == ref.update_id
        checker.events(book, seq_before, events)
        assert book.depth() == ref.depth()
        checker.book(book)
    snap = book.export()
    assert ([tuple(o) for o in snap.orders], [tuple(o) for o in snap.stops]) == ref.export()
