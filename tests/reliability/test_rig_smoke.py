from tests.reliability.rig import LiveRig


def test_smoke(rig: LiveRig) -> None:
    p = rig.cli("buy", "RELIANCE", "--qty", "1", "--json")
    assert p.returncode == 0, p.stderr
    assert rig.qty_by_symbol()["RELIANCE-EQ"] == 1
    assert rig.main("buy", "INFY", "--qty", "2") == 0
    assert rig.qty_by_symbol()["INFY-EQ"] == 2
