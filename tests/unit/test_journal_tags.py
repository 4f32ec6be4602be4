"""engine/journal.py: order tags (format, ownership, uniqueness for good), intent states, runs.

Real SQLite files in tmp_path; nothing patched. Two random parts make tags unique across
openings and copies: a 4-character base-36 epoch per opening. Two openings draw the same one
1 time in 1.7 million, so the two tests that compare openings could fail that rarely by chance.
"""

from __future__ import annotations

import asyncio
import sqlite3
import string
import time
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path

import pytest
import pytest_asyncio

from gui_trader.core.clock import IST, today_ist
from gui_trader.engine.journal import EPOCH_CHARS, TAG_LENGTH, IntentState, Journal, b36

B36 = set(string.digits + string.ascii_uppercase)
DAY = date(2026, 12, 1)
ACCOUNT = "paper"


@pytest_asyncio.fixture
async def journal(tmp_path: Path) -> AsyncIterator[Journal]:
    j = await Journal(tmp_path / "journal.sqlite3").open()
    yield j
    await j.close()


def sql(path: Path, statement: str, *args: object) -> None:
    """Write to the journal's file the way another process (or an older version) would."""
    db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    try:
        db.execute(statement, args)
    finally:
        db.close()


async def intent(j: Journal, feature: str = "O", account: str = ACCOUNT) -> str:
    return await j.new_intent(account, "place", feature, {"ts": "SBIN-EQ", "qt": 1}, day=DAY)


# ------------------------------------------------------------------------------- format
def test_b36_pads_and_counts_in_base_36() -> None:
    assert b36(0, 5) == "00000"
    assert b36(35, 5) == "0000Z"
    assert b36(36, 5) == "00010"
    assert b36(36**5 - 1, 5) == "ZZZZZ"


@pytest.mark.asyncio
@pytest.mark.parametrize("feature", ["S", "M", "F", "R", "O"])
async def test_tag_format(journal: Journal, feature: str) -> None:
    tag = await intent(journal, feature)
    row = await journal.by_tag(tag)
    assert row is not None
    assert TAG_LENGTH == len(tag) == 18 and len(tag) <= 20  # the broker's `ig` takes 20
    assert tag[0] == feature
    assert tag[1:7] == "261201"  # yymmdd of the intent's day
    assert tag[7:9] == journal.install_id and len(journal.install_id) == 2
    assert tag[9:13] == journal.epoch and len(journal.epoch) == EPOCH_CHARS
    assert tag[13:] == b36(row.id, 5)
    assert set(tag[1:]) <= B36
    assert (row.feature, row.day, row.state) == (feature, DAY.isoformat(), IntentState.NEW)


@pytest.mark.asyncio
async def test_intents_in_one_transaction_get_consecutive_row_ids(journal: Journal) -> None:
    tags = await journal.new_intents(
        ACCOUNT, "place", "S", [{"n": i} for i in range(3)], "run-1", [None, {"leg": "CE"}, None]
    )
    rows = [await journal.by_tag(t) for t in tags]
    assert [r.id for r in rows if r is not None] == [1, 2, 3]
    assert [t[13:] for t in tags] == ["00001", "00002", "00003"]
    assert [r.meta for r in rows if r is not None] == [None, {"leg": "CE"}, None]
    assert {r.group_id for r in rows if r is not None} == {"run-1"}


# ------------------------------------------------------------------------------- uniqueness
@pytest.mark.asyncio
async def test_two_openings_of_one_file_never_repeat_a_tag(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    first = await Journal(path).open()
    tags = [await intent(first) for _ in range(3)]
    install, epoch = first.install_id, first.epoch
    await first.close()
    second = await Journal(path).open()
    try:
        tags += [await intent(second) for _ in range(3)]
        assert second.install_id == install  # the installation is the file's, kept
        assert second.epoch != epoch  # the epoch is the opening's, fresh
    finally:
        await second.close()
    assert len(set(tags)) == 6


@pytest.mark.asyncio
async def test_a_copied_journal_makes_tags_apart_from_the_original(tmp_path: Path) -> None:
    original = tmp_path / "journal.sqlite3"
    j = await Journal(original).open()
    before = [await intent(j) for _ in range(2)]
    await j.close()
    copy = tmp_path / "restored.sqlite3"

    def backup() -> None:
        src, dst = sqlite3.connect(original), sqlite3.connect(copy)
        with dst:
            src.backup(dst)
        src.close()
        dst.close()

    await asyncio.to_thread(backup)
    a, b = await Journal(original).open(), await Journal(copy).open()
    try:
        assert a.install_id == b.install_id  # a copy cannot tell it is one
        tag_a, tag_b = await intent(a), await intent(b)
        row_a, row_b = await a.by_tag(tag_a), await b.by_tag(tag_b)
        assert row_a is not None and row_b is not None and row_a.id == row_b.id == 3
        assert tag_a != tag_b  # same row id, same install: the opening's epoch keeps them apart
        assert {tag_a, tag_b}.isdisjoint(before)
    finally:
        await a.close()
        await b.close()


# ------------------------------------------------------------------------------- ownership
@pytest.mark.asyncio
async def test_owns_only_tags_of_this_installation(journal: Journal, tmp_path: Path) -> None:
    tag = await intent(journal, "S")
    assert journal.owns(tag)
    assert not journal.owns("WEB123")  # placed in the broker's app
    assert not journal.owns(tag[:-1])  # wrong length
    assert not journal.owns(tag + "0")
    assert not journal.owns(tag[0] + "26X201" + tag[7:])  # the date part is not a date
    foreign = tag[:7] + ("00" if journal.install_id != "00" else "11") + tag[9:]
    assert not journal.owns(foreign)  # another installation's tag, same shape
    other = await Journal(tmp_path / "elsewhere" / "journal.sqlite3").open()
    try:
        assert other.owns(await intent(other))
    finally:
        await other.close()


def test_a_journal_not_yet_open_owns_nothing(tmp_path: Path) -> None:
    unopened = Journal(tmp_path / "journal.sqlite3")
    assert not unopened.owns("S261201" + "AB" + "CDEF" + "00001")


# ------------------------------------------------------------------------------- retag
@pytest.mark.asyncio
async def test_retag_gives_a_new_tag_and_starts_the_intent_again(journal: Journal) -> None:
    old = await intent(journal, "S")
    await journal.mark([old], IntentState.SENT)
    sent = await journal.by_tag(old)
    assert sent is not None and sent.state == IntentState.SENT
    new = await journal.retag(old)
    assert new != old and len(new) == TAG_LENGTH and journal.owns(new)
    assert new[:9] == old[:9] and new[13:] == old[13:]  # same feature, day, install, row
    assert new[9:13] == journal.epoch
    assert await journal.by_tag(old) is None
    row = await journal.by_tag(new)
    assert row is not None and row.id == sent.id
    assert row.state == IntentState.NEW
    assert row.detail is not None and old in row.detail and "collided" in row.detail
    later = await intent(journal, "S")  # tags made after a retag use the new epoch
    assert later[9:13] == journal.epoch and later not in (old, new)


@pytest.mark.asyncio
async def test_retag_of_an_unknown_tag_is_a_key_error(journal: Journal) -> None:
    with pytest.raises(KeyError):
        await journal.retag("S261201ZZZZZZ00001")


# ------------------------------------------------------------------------------- states
@pytest.mark.asyncio
async def test_update_records_the_outcome(journal: Journal) -> None:
    tag = await intent(journal)
    await journal.update(tag, IntentState.SENT, bump=True)
    await journal.update(tag, IntentState.PLACED, order_id="261201000000001", detail="ok")
    await journal.update(tag, IntentState.PLACED, detail="seen in the book")  # order id kept
    row = await journal.by_tag(tag)
    assert row is not None
    assert (row.state, row.order_id, row.detail, row.attempts) == (
        IntentState.PLACED,
        "261201000000001",
        "seen in the book",
        1,
    )


@pytest.mark.asyncio
async def test_unresolved_lists_open_states_of_the_account(journal: Journal) -> None:
    S = IntentState
    tags = {state: await intent(journal) for state in (S.NEW, S.SENT, S.UNKNOWN, S.PLACED)}
    tags[S.FAILED] = await intent(journal)
    await journal.mark([tags[s] for s in (S.SENT, S.UNKNOWN, S.PLACED, S.FAILED)], S.SENT)
    for state in (S.UNKNOWN, S.PLACED, S.FAILED):
        await journal.update(tags[state], state)
    await intent(journal, account="other")
    open_intents = await journal.unresolved(ACCOUNT)
    assert [i.tag for i in open_intents] == [tags[S.NEW], tags[S.SENT], tags[S.UNKNOWN]]
    assert [i.state for i in open_intents] == [S.NEW, S.SENT, S.UNKNOWN]


@pytest.mark.asyncio
async def test_unresolved_with_idle_skips_intents_touched_recently(journal: Journal) -> None:
    quiet, busy = await intent(journal), await intent(journal)
    await journal.mark([quiet, busy], IntentState.SENT)
    touched = await journal.by_tag(busy)
    assert touched is not None and abs(touched.updated - time.time()) < 60
    assert [i.tag for i in await journal.unresolved(ACCOUNT, idle_s=60)] == []
    await asyncio.to_thread(
        sql, journal.path, "UPDATE intents SET updated=? WHERE tag=?", time.time() - 120, quiet
    )
    assert [i.tag for i in await journal.unresolved(ACCOUNT, idle_s=60)] == [quiet]
    assert [i.tag for i in await journal.unresolved(ACCOUNT, idle_s=300)] == []
    assert [i.tag for i in await journal.unresolved(ACCOUNT)] == [quiet, busy]


# ------------------------------------------------------------------------------- runs
@pytest.mark.asyncio
async def test_runs_carry_their_ist_day_and_state(journal: Journal) -> None:
    plan = {"spec": {"lots": 167}, "batches": []}
    await journal.save_run("run-1", ACCOUNT, "straddle", plan, "running")
    [run] = await journal.runs(ACCOUNT, "straddle")
    assert (run.id, run.plan, run.state, run.day) == (
        "run-1",
        plan,
        "running",
        today_ist().isoformat(),
    )
    await journal.save_run("run-1", ACCOUNT, "straddle", {"changed": True}, "done")
    assert await journal.runs(ACCOUNT, "straddle") == []
    done = await journal.run("run-1")
    assert done is not None and done.state == "done" and done.plan == plan  # plan kept
    assert await journal.runs("other", "straddle", ("done",)) == []
    assert await journal.run("no-such-run") is None


@pytest.mark.asyncio
async def test_a_run_saved_before_runs_had_a_day_gets_the_ist_day_it_was_created(
    journal: Journal,
) -> None:
    created = datetime(2026, 12, 1, 1, 30, tzinfo=IST).timestamp()  # 30 Nov 20:00 UTC
    await asyncio.to_thread(
        sql,
        journal.path,
        "INSERT INTO runs (id, account, kind, plan, state, created, updated, day)"
        " VALUES ('old', ?, 'straddle', '{}', 'running', ?, ?, NULL)",
        ACCOUNT,
        created,
        created,
    )
    [run] = await journal.runs(ACCOUNT, "straddle")
    assert run.day == "2026-12-01"
    again = await journal.run("old")
    assert again is not None and again.day == "2026-12-01"
