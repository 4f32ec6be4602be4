"""Fan-out sizing (floor(amount x leverage / price), down to whole lots) and the bounded,
typed account settings config.toml keeps."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gui_trader.config import AccountConfig, Config
from gui_trader.core.account_settings import FanoutSettings
from gui_trader.engine.fanout import size


@pytest.mark.parametrize(
    ("amount", "leverage", "price", "lot", "qty"),
    [
        ("99814.40", "1", "3564.8", 1, 28),  # the seed's TITAN line: 28 shares
        ("19962.88", "5", "3564.8", 1, 28),  # margin x leverage, same 28
        ("10000", "1", "3000.01", 1, 3),
        ("100000", "1", "120", 75, 825),  # 833 units -> 11 lots of 75
        ("5000", "1", "120", 75, 0),  # less than one lot
        ("10000", "1", "0", 1, 0),
    ],
)
def test_size_is_floored_to_whole_lots(
    amount: str, leverage: str, price: str, lot: int, qty: int
) -> None:
    s = FanoutSettings(amount=Decimal(amount), leverage=Decimal(leverage))
    assert size(s, Decimal(price), lot) == qty


def test_settings_round_trip_and_bad_values_are_refused(tmp_path: Path) -> None:
    config = Config(tmp_path / "config.toml")
    settings = FanoutSettings(("swing", "core"), Decimal("50000"), Decimal(5), 3, 7, False)
    config.accounts["a"] = AccountConfig("a", "+911", "U1", "http://x", fanout=settings)
    config.save()
    assert Config.load(config.path).accounts["a"].fanout == settings
    assert not Config.load(config.path).accounts["a"].in_group("all")  # disabled
    for bad in (
        {"leverage": Decimal(0)},
        {"amount": Decimal("1e12")},
        {"max_positions": 0},
        {"groups": ("all",)},
        {"groups": ("no spaces",)},
        {"notify": ("not a url",)},
    ):
        with pytest.raises(ValueError):
            FanoutSettings(**bad)  # type: ignore[arg-type]
    config.path.write_text(
        config.path.read_text().replace("max_positions = 3", 'max_positions = "x"')
    )
    with pytest.raises(ValueError, match=r"accounts\.a\.fanout"):
        Config.load(config.path)
