"""Intent states: the journal refuses a transition its table forbids, and writes nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gui_trader.engine.journal import TRANSITIONS, IllegalTransition, IntentState, Journal


def test_every_state_has_a_row_and_terminal_states_stay() -> None:
    assert set(TRANSITIONS) == set(IntentState)
    for terminal in (IntentState.REJECTED, IntentState.FAILED, IntentState.ABORTED):
        assert TRANSITIONS[terminal] == {terminal}


@pytest.mark.asyncio
async def test_a_forbidden_transition_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    journal = await Journal(tmp_path / "j.sqlite3").open()
    try:
        tag = await journal.new_intent("acct", "place", "O", {"symbol": "X"})
        await journal.update(tag, IntentState.SENT)
        await journal.update(tag, IntentState.REJECTED, detail="refused")
        with pytest.raises(IllegalTransition, match="rejected -> placed"):
            await journal.update(tag, IntentState.PLACED, order_id="1")
        with pytest.raises(IllegalTransition):
            await journal.mark([tag], IntentState.SENT)
        intent = await journal.by_tag(tag)
        assert intent is not None
        assert (intent.state, intent.order_id, intent.detail) == (
            IntentState.REJECTED,
            None,
            "refused",
        )
    finally:
        await journal.close()


@pytest.mark.asyncio
async def test_the_paths_the_desk_takes_are_allowed(tmp_path: Path) -> None:
    journal = await Journal(tmp_path / "j.sqlite3").open()
    try:
        tag = await journal.new_intent("acct", "place", "O", {"symbol": "X"})
        for state in (
            IntentState.SENT,
            IntentState.UNKNOWN,
            IntentState.ABSENT,
            IntentState.SENT,
            IntentState.PLACED,
            IntentState.PLACED,
        ):
            await journal.update(tag, state)
        intent = await journal.by_tag(tag)
        assert intent is not None and intent.state is IntentState.PLACED
    finally:
        await journal.close()


@pytest.mark.asyncio
async def test_writes_sent_together_commit_together_and_a_refused_one_fails_alone(
    tmp_path: Path,
) -> None:
    """A burst's writes share transactions (group commit): every caller still hears about its
    own write only, after it is committed; a forbidden transition among them rolls back alone."""
    path = tmp_path / "j.sqlite3"
    journal = await Journal(path).open()
    try:
        done = await journal.new_intent("acct", "place", "O", {"symbol": "D"})
        await journal.update(done, IntentState.SENT)
        await journal.update(done, IntentState.REJECTED, detail="refused")
        results = await asyncio.gather(
            *(journal.new_intent("acct", "place", "O", {"n": n}) for n in range(20)),
            journal.update(done, IntentState.PLACED, order_id="9"),
            return_exceptions=True,
        )
        tags, refused = results[:20], results[20]
        assert isinstance(refused, IllegalTransition)
        assert all(isinstance(t, str) for t in tags) and len(set(tags)) == 20
        await asyncio.gather(*(journal.update(str(t), IntentState.SENT, bump=True) for t in tags))
        # What another connection reads is what was committed.
        with sqlite3.connect(path) as other:
            rows = dict(other.execute("SELECT tag, state FROM intents").fetchall())
        assert {rows[str(t)] for t in tags} == {IntentState.SENT.value}
        assert rows[done] == IntentState.REJECTED.value
    finally:
        await journal.close()
