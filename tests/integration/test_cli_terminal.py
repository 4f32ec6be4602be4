"""The command line as a trader meets it in a terminal: progress on stderr while long commands
run (a bar on a terminal, plain lines elsewhere; stdout stays one JSON document), every error
said once, refusals before anything is sent, and one clear line where there is no display."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from gui_trader.cli import main
from gui_trader.cli.progress import Renderer, StraddleProgress
from gui_trader.cli.screen import no_screen
from gui_trader.core.clock import today_ist
from gui_trader.core.order import OrderStatus
from gui_trader.engine.events import LegProgress, RunProgress, RunState
from gui_trader.engine.straddle_plan import Batch, Leg, PlannedOrder
from gui_trader.sim.paper_files import CLOCK_ENV
from gui_trader.sim.universe import option_symbol, weekly_expiries
from tests.integration.test_cli import journal_rows

ROOT = Path(__file__).resolve().parents[2]
NO_DISPLAY = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def env_for(home: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "GUI_TRADER_HOME": str(home), "PYTHONPATH": str(ROOT), **extra}


def gui_trader(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "gui_trader", *args],
        cwd=ROOT,
        env=env or env_for(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gui-trader: ") and lines[0].count("gui-trader:") == 1, err
    return lines[0]


# ---------------------------------------------------------------- 12: progress on stderr


def test_straddle_progress_is_plain_lines_on_a_pipe_and_json_stays_one_document(
    home: Path,
) -> None:
    proc = gui_trader(
        home,
        *("straddle", "--expiry", "next", "--atm", "--lots", "4", "--batch-lots", "2"),
        *("--delay", "1", "--yes", "--json"),
    )
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    doc = json.loads(out)  # exactly one document: nothing else reached stdout
    assert doc["sent"] is True and doc["batches_sent"] == 2
    assert "\r" not in err and "\x1b" not in err  # no terminal control on a pipe
    lines = err.splitlines()
    assert lines[0].startswith("straddle: batch 1/2 sent: CE 150/300 sent, ")
    assert lines[0].endswith("; next batch in 1 s"), lines
    assert lines[1].startswith("straddle: batch 2/2 sent: CE 300/300 sent, ")
    assert "next batch" not in lines[1]
    assert lines[-1] == (
        "straddle done: 2/2 batches sent; CE 300/300 sent, 300 filled; PE 300/300 sent, 300 filled"
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_straddle_reports_then_exits_128_plus_the_signal(
    home: Path, sig: signal.Signals
) -> None:
    proc = gui_trader(
        home,
        *("straddle", "--expiry", "next", "--atm", "--lots", "4", "--batch-lots", "2"),
        *("--delay", "60", "--yes", "--json"),
    )
    assert proc.stderr is not None
    try:
        first = proc.stderr.readline()  # batch 1 is out; batch 2 waits a minute
    finally:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert first.startswith("straddle: batch 1/2 sent: "), first + err
    assert proc.returncode == 128 + sig, err  # 130 for Ctrl-C, as the README says
    doc = json.loads(out)  # the summary still comes, whole
    assert doc["aborted"] is True and doc["batches_sent"] == 1


def read_pty(fd: int, proc: subprocess.Popen[str]) -> str:
    """Everything the child wrote to its terminal, until it exits and the terminal drains."""
    chunks: list[bytes] = []
    while True:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the child closed its end
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks).decode("utf-8", "replace")


def test_straddle_progress_is_a_redrawn_bar_on_a_terminal(home: Path) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 160, 0, 0))
    args = ["straddle", "--expiry", "next", "--atm", "--lots", "4", "--batch-lots", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gui_trader", *args, "--delay", "1", "--yes"],
        cwd=ROOT,
        env=env_for(home, TERM="xterm", PYTHONIOENCODING="utf-8"),
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    try:
        screen = read_pty(master, proc)
        out, _ = proc.communicate(timeout=120)
    finally:
        os.close(master)
    assert proc.returncode == 0, screen
    redraws = screen.split("\r\x1b[2K")
    assert len(redraws) >= 3, screen  # drawn in place, not line after line
    bar = re.compile(r"straddle ▕[█░]{20}▏ 1/2 batches · CE 150/300 sent, \d+ filled; PE ")
    assert any(bar.match(r) for r in redraws), screen
    assert any(r.rstrip().endswith("next batch in 1 s") for r in redraws), screen
    assert screen.endswith("\r\x1b[2K"), screen  # the bar is gone before the summary
    assert "Call 2/2 placed" in out  # the summary, on stdout as before


def test_monitor_cycles_count_down_to_the_next_one(home: Path) -> None:
    proc = gui_trader(home, "monitor", "--skip-wait", "--monitor-interval", "1", "--json")
    assert proc.stderr is not None
    try:
        first = proc.stderr.readline()
        second = proc.stderr.readline()
    finally:
        proc.send_signal(signal.SIGTERM)  # the monitor stops in order and reports
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out)["dry_run"] is True
    six = "monitor (dry run): cycle {}: 6 symbols: 6 would place; next cycle in 1 s\n"
    assert (first, second) == (six.format(1), six.format(2))


def test_monitor_once_says_its_cycle(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "monitor", "--skip-wait", "--run-once")
    assert code == 0
    assert err == "monitor (dry run): cycle 1: 6 symbols: 6 would place\n"
    assert out.startswith("SYMBOL")


def test_fanout_says_each_signal_as_it_is_fired(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    for name in ("a", "b"):
        assert main(["account", "add", name, "--paper"]) == 0
        assert main(["account", "set", name, "--amount", "100000"]) == 0
    signals = home / "signals.csv"
    signals.write_text("symbol,side\nTCS,buy\nSBIN,buy\n")
    capsys.readouterr()
    code, out, err = run(capsys, "signal", "--file", str(signals), "--yes", "--json")
    assert code == 0, err
    assert len(json.loads(out)["signals"]) == 2
    lines = err.splitlines()
    assert [line.split(":")[0] for line in lines] == ["signal 1/2", "signal 2/2"], err
    assert lines[0].startswith("signal 1/2: BUY TCS: 2 placed, 0 skipped, 0 failed in ")


# ---------------------------------------------------------------- 13: every error once


def test_a_broker_rejection_is_said_once(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "sell", "HDFCBANK", "--qty", "5")  # not held: RMS rejects
    assert code == 1 and out == ""
    assert "Insufficient holdings" in one_line(err)
    code, out, err = run(capsys, "sell", "HDFCBANK", "--qty", "5", "--json")
    assert code == 1 and json.loads(out)["outcome"] == "rejected"
    assert "Insufficient holdings" in one_line(err)


def test_a_refusal_the_desk_also_logs_is_said_once(
    capsys: pytest.CaptureFixture[str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The paper exchange refuses a regular order after the close outright: the order desk
    logs that, and the command says it; the terminal shows it once, the log file keeps it."""
    monkeypatch.setenv(CLOCK_ENV, "16:00")
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text("[paper]\nsession = true\n")
    code, out, err = run(capsys, "buy", "RELIANCE", "--qty", "1")
    assert code == 1 and out == ""
    assert "market is closed" in one_line(err)
    assert "WARNING" not in err
    assert "market is closed" in (home / "logs" / "gui_trader.log").read_text()


def test_out_of_range_and_usage_errors_are_one_line_naming_the_command(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "buy", "RELIANCE", "--qty", "1000000000")
    assert code == 2 and out == ""
    line = one_line(err)
    assert line.startswith("gui-trader: buy: argument --qty: '1000000000' is out of range")
    assert line.count("1000000000") == 1
    code, out, err = run(capsys, "buy")
    assert code == 2 and out == ""
    assert one_line(err) == "gui-trader: buy: the following arguments are required: symbol, --qty"
    code, out, err = run(capsys, "account", "add")
    assert one_line(err) == "gui-trader: account add: the following arguments are required: name"


def test_a_missing_quote_is_an_error_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    # The paper exchange prices no NIFTY BANK index (the issue's own example).
    code, out, err = run(capsys, "quote", "BANKNIFTY")
    assert code == 1 and out == ""
    assert one_line(err) == "gui-trader: no quote for NIFTY BANK"
    code, out, err = run(capsys, "quote", "BANKNIFTY", "RELIANCE")
    assert code == 1
    assert out.splitlines()[1].startswith("RELIANCE-EQ") and "no quote" not in out
    assert one_line(err) == "gui-trader: no quote for NIFTY BANK"


# ---------------------------------------------------------------- 14: refusals and wording


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--call-strike", "26000"], "--call-strike needs --put-strike too"),
        (["--put-strike", "25800"], "--put-strike needs --call-strike too"),
        (["--atm", "--call-strike", "1", "--put-strike", "2"], "--call-strike goes without --atm"),
        (["--atm", "--steps", "-1"], "'-1' is out of range: a whole number from 0 to 50"),
        (["--strike", "25900", "--steps", "2"], "--steps goes with --atm"),
        (["--expiry", "soon", "--atm"], "use YYYY-MM-DD or next"),
    ],
)
def test_straddle_strikes_are_given_one_whole_way(
    capsys: pytest.CaptureFixture[str], home: Path, args: list[str], said: str
) -> None:
    expiry = [] if "--expiry" in args else ["--expiry", "next"]
    code, out, err = run(capsys, "straddle", *expiry, *args, "--lots", "1", "--yes", "--json")
    assert code == 2
    assert said in one_line(err)
    assert json.loads(out)["ok"] is False
    assert journal_rows(home) == 0


def test_monitor_dry_run_and_yes_together_are_refused(
    capsys: pytest.CaptureFixture[str], home: Path
) -> None:
    code, out, err = run(capsys, "monitor", "--skip-wait", "--run-once", "--dry-run", "--yes")
    assert code == 2 and out == ""
    assert "--yes: not allowed with argument --dry-run" in one_line(err)
    assert journal_rows(home) == 0


def test_expiry_next_is_the_nearest_weekly_and_the_plan_reads_in_singular(
    capsys: pytest.CaptureFixture[str],
) -> None:
    expiry = weekly_expiries(today_ist())[0]
    code, out, err = run(capsys, "straddle", "--expiry", "next", "--strike", "25900", "--lots", "1")
    assert code == 0, err
    assert f"NIFTY {expiry}: CE {option_symbol(expiry, 25900, 'CE')} + PE " in out
    assert "1 lot x 75 = 75 per leg in 1 batch of 1 lot; MKT NRML" in out
    assert "1 batches" not in out and "between batches" not in out
    code, out, _ = run(capsys, "straddle", "--expiry", "next", "--atm", "--lots", "3")
    assert "3 lots x 75 = 225 per leg in 1 batch of 3 lots" in out
    code, out, _ = run(
        capsys, *("straddle", "--expiry", "next", "--atm", "--lots", "3", "--batch-lots", "1")
    )
    assert "in 3 batches of up to 1 lot; 20 s between batches" in out


def test_a_lot_size_hint_names_each_quantity_once(capsys: pytest.CaptureFixture[str]) -> None:
    ce = option_symbol(weekly_expiries(today_ist())[0], 25900, "CE")
    code, _, err = run(capsys, "sell", ce, "--qty", "10")
    assert code == 2 and one_line(err).endswith("lot size 75 (try 75)")
    code, _, err = run(capsys, "sell", ce, "--qty", "100")
    assert code == 2 and one_line(err).endswith("lot size 75 (try 75 or 150)")


# ---------------------------------------------------------------- 15: no display, README


@pytest.mark.parametrize("args", [[], ["gui"], ["--paper"]])
def test_no_display_is_one_line_saying_how_to_run(home: Path, args: list[str]) -> None:
    env = {k: v for k, v in env_for(home).items() if k not in NO_DISPLAY}
    proc = gui_trader(home, *args, env=env)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == ""
    line = one_line(err)
    assert "no display" in line and "xvfb-run gui-trader" in line
    assert "QT_QPA_PLATFORM=offscreen gui-trader" in line
    assert "xcb" not in err


def test_what_counts_as_a_display() -> None:
    assert no_screen({}, "linux") is not None
    assert no_screen({"DISPLAY": ":81"}, "linux") is None
    assert no_screen({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert no_screen({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert no_screen({}, "darwin") is None and no_screen({}, "win32") is None


def test_readme_examples_do_not_go_stale_and_say_where_the_data_is() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = [line for line in readme.splitlines() if line.lstrip().startswith("gui-trader ")]
    expiries = re.findall(r"--expiry (\S+)", "\n".join(commands))
    assert expiries and set(expiries) <= {"next", "..."}, expiries
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", "\n".join(commands))
    for where in ("GUI_TRADER_HOME", "~/.local/share/gui_trader", "Application Support"):
        assert where in readme
    assert "xvfb-run gui-trader" in readme and "QT_QPA_PLATFORM=offscreen" in readme


def test_straddle_progress_tells_failed_and_unknown_legs_apart() -> None:
    """A rejected leg failed; a leg whose outcome is unknown may exist: never counted as
    either sent or failed. A resume's wait for legs on the wire is said with its countdown."""
    orders = [PlannedOrder(b, leg, 1, 75) for b in (1, 2) for leg in (Leg.CE, Leg.PE)]
    batches = tuple(Batch(b, 1, tuple(o for o in orders if o.batch == b)) for b in (1, 2))
    plan = SimpleNamespace(batches=batches, orders=orders, spec=SimpleNamespace(delay_s=20.0))
    stream = io.StringIO()
    progress = StraddleProgress(SimpleNamespace(run_id="S1", plan=plan), Renderer(stream))
    progress(RunProgress("S1", 0, 2, RunState.SETTLING, time.monotonic() + 45))
    for leg, status in ((Leg.CE, OrderStatus.OPEN), (Leg.PE, OrderStatus.REJECTED)):
        progress(LegProgress("S1", 1, leg, 1, 75, status, None))
    progress(LegProgress("OTHER", 1, Leg.CE, 1, 75, OrderStatus.COMPLETE, "9"))  # not ours
    progress(RunProgress("S1", 1, 2, RunState.RUNNING))
    progress(RunProgress("S1", 1, 2, RunState.WAITING, time.monotonic() + 20))
    progress(LegProgress("S1", 2, Leg.CE, 1, 75, OrderStatus.COMPLETE, "1"))
    progress(LegProgress("S1", 2, Leg.PE, 1, 75, OrderStatus.UNKNOWN, None))
    progress(RunProgress("S1", 2, 2, RunState.RUNNING))
    progress(RunProgress("S1", 2, 2, RunState.DONE))
    assert stream.getvalue().splitlines() == [
        "straddle: legs that were on the wire are looked up by tag in 45 s; only those proven"
        " absent are sent",
        "straddle: batch 1/2 sent: CE 75/150 sent, 0 filled; PE 0/150 sent, 0 filled,"
        " 1 order failed; next batch in 20 s",
        "straddle: batch 2/2 sent: CE 150/150 sent, 75 filled; PE 0/150 sent, 0 filled,"
        " 1 order failed, 1 order unknown",
        "straddle done: 2/2 batches sent; CE 150/150 sent, 75 filled; PE 0/150 sent, 0 filled,"
        " 1 order failed, 1 order unknown",
    ]
