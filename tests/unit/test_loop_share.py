"""engine/loop_share.py: a burst's order steps take turns with everything else on the loop
(the window's timers and paints), first come first served; alone, a step never waits."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from gui_trader.engine.loop_share import LoopShare, loop_share


class Passes:
    """Counts loop passes: a callback that schedules itself again runs once a pass."""

    def __init__(self) -> None:
        self.count = 0
        self.running = True
        asyncio.get_running_loop().call_soon(self.tick)

    def tick(self) -> None:
        self.count += 1
        if self.running:
            asyncio.get_running_loop().call_soon(self.tick)


@pytest.mark.asyncio
async def test_a_step_alone_never_waits() -> None:
    share = LoopShare(slice_s=0.0)
    for _ in range(3):
        await share.turn()  # a new pass each time: the first step of a pass always runs
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert share.waits == 0


@pytest.mark.asyncio
async def test_steps_past_the_slice_go_one_pass_later_in_the_order_they_asked() -> None:
    share = LoopShare(slice_s=0.0)  # every step fills its pass
    passes = Passes()
    ran: list[tuple[int, int]] = []

    async def step(i: int) -> None:
        await share.turn()
        ran.append((i, passes.count))

    await asyncio.gather(*(step(i) for i in range(5)))
    passes.running = False
    assert [i for i, _ in ran] == [0, 1, 2, 3, 4]
    at = [p for _, p in ran]
    assert all(b > a for a, b in itertools.pairwise(at))  # other callbacks in between
    assert share.waits == 4


@pytest.mark.asyncio
async def test_steps_within_the_slice_run_in_the_same_pass() -> None:
    share = LoopShare(slice_s=60.0)
    passes = Passes()
    ran: list[int] = []

    async def step() -> None:
        await share.turn()
        ran.append(passes.count)

    await asyncio.gather(*(step() for _ in range(20)))
    passes.running = False
    assert len(set(ran)) == 1
    assert share.waits == 0


@pytest.mark.asyncio
async def test_a_cancelled_waiter_leaves_no_trace() -> None:
    share = LoopShare(slice_s=0.0)
    ran: list[int] = []

    async def step(i: int) -> None:
        await share.turn()
        ran.append(i)

    tasks = [asyncio.create_task(step(i)) for i in range(4)]
    await asyncio.sleep(0)  # all four asked; 0 ran, 1-3 wait
    tasks[2].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert ran == [0, 1, 3]
    assert isinstance(results[2], asyncio.CancelledError)
    await share.turn()  # nothing left waiting: the next step goes at once
    assert ran == [0, 1, 3]


@pytest.mark.asyncio
async def test_one_share_per_loop() -> None:
    assert loop_share() is loop_share()


@pytest.mark.asyncio
async def test_a_full_slice_holds_what_fit_and_room_left_wakes_twice_as_many() -> None:
    """After a turn whose slice filled up, the next holds as many steps as fitted; after one
    with room left, twice as many as last time (it never shrinks to one step a pass)."""
    now = [0.0]
    share = LoopShare(slice_s=1.0, clock=lambda: now[0])
    passes = Passes()
    ran: list[int] = []
    costs = iter([0.6, 0.6] + [0.01] * 20)  # two steps fill the first slice, the rest are cheap

    async def step() -> None:
        await share.turn()
        ran.append(passes.count)
        now[0] += next(costs)

    await asyncio.gather(*(step() for _ in range(22)))
    passes.running = False
    per_pass = [ran.count(p) for p in sorted(set(ran))]
    assert per_pass == [2, 2, 4, 8, 6]  # 0.6 + 0.6 filled it: 2; then room left: 4, 8, ...
