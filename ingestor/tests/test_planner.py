"""planner.plan_connections: which subscription goes on which connection (pure)."""

from __future__ import annotations

import random

import pytest
from okx_ingestor.planner import check_plan, plan_connections

URL = "wss://ws.okx.com:8443/ws/v5/public"


def args(channels: list[str], insts: list[str]) -> list[dict[str, str]]:
    return [{"channel": c, "instId": i} for c in channels for i in insts]


def test_public_channels_keep_their_order_and_chunks() -> None:
    subs = args(["trades", "books", "tickers"], ["A-USDT", "B-USDT"])
    plan = plan_connections({URL: subs}, max_args=4)
    assert [p.args for p in plan] == [subs[:4], subs[4:]]
    assert not any(p.login for p in plan)


def test_l2_tbt_gets_logged_in_connections_of_its_own() -> None:
    subs = args(["books", "books-l2-tbt", "books50-l2-tbt", "trades"], ["BTC-USDT"])
    plan = plan_connections({URL: subs}, max_args=30)
    assert [(p.login, [a["channel"] for a in p.args]) for p in plan] == [
        (False, ["books", "trades"]),
        (True, ["books-l2-tbt"]),
        (True, ["books50-l2-tbt"]),
    ]
    assert check_plan(plan, 30) == []


def test_check_plan_finds_the_64004_conflict_and_a_missing_login() -> None:
    from okx_ingestor.planner import PlannedConnection

    bad = [PlannedConnection(URL, args(["books", "books-l2-tbt"], ["BTC-USDT"]), login=False)]
    problems = check_plan(bad, 30)
    assert any("64004" in p for p in problems) and any("without login" in p for p in problems)


def test_max_args_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_args"):
        plan_connections({URL: []}, 0)


@pytest.mark.parametrize("seed", range(200))
def test_any_configuration_plans_without_conflict(seed: int) -> None:
    """Random channel sets, instruments and limits: every arg planned exactly once, no
    connection over the limit, no 64004 pair, l2-tbt only where logged in."""
    rng = random.Random(seed)
    channels = rng.sample(
        ["books", "books5", "bbo-tbt", "books-l2-tbt", "books50-l2-tbt", "trades", "tickers"],
        rng.randint(1, 7),
    )
    insts = [f"I{n}-USDT" for n in range(rng.randint(1, 12))]
    subs = args(channels, insts)
    rng.shuffle(subs)
    max_args = rng.randint(1, 10)
    plan = plan_connections({URL: subs, "wss://x/business": subs[:3]}, max_args)
    assert check_plan(plan, max_args) == []
    planned = sorted((p.url, a["channel"], a["instId"]) for p in plan for a in p.args)
    wanted = sorted(
        [(URL, a["channel"], a["instId"]) for a in subs]
        + [("wss://x/business", a["channel"], a["instId"]) for a in subs[:3]]
    )
    assert planned == wanted
