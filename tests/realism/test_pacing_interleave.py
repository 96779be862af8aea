"""interleave: the k-th round of pieces due at the k-th deadline, one answer or several."""

from __future__ import annotations

from sentra_openai.engine import Piece
from sentra_openai.engine.realism.pacing import interleave


def pieces(name: str, n: int) -> list[Piece]:
    return [Piece(0.0, raw=f"{name}{i}".encode()) for i in range(n)]


def test_one_answer_takes_the_deadlines_in_order_and_the_last_for_any_beyond():
    ordered = interleave([pieces("a", 5)], (0.1, 0.2, 0.3))
    assert [(p.raw, p.due) for p in ordered] == [(b"a0", 0.1), (b"a1", 0.2), (b"a2", 0.3), (b"a3", 0.3), (b"a4", 0.3)]


def test_several_answers_go_round_by_round():
    ordered = interleave([pieces("a", 3), pieces("b", 1)], (0.1, 0.2, 0.3, 0.4))
    assert [(p.raw, p.due) for p in ordered] == [(b"a0", 0.1), (b"b0", 0.1), (b"a1", 0.2), (b"a2", 0.3)]
