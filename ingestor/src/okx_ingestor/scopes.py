"""Subscribe args of the channels that are not one arg per instId (issue 13).

OKX v5 docs (the 2026-06-15 scrape in github:qiuham/crypto-api-docs, docs/okx/public/
data/websocket-*-channel.md and docs/okx/status/ws/status-channel.md), all on /public:

| channel | subscribed by | this ingestor subscribes |
|---|---|---|
| open-interest, price-limit | instId | each instrument (config's default path) |
| estimated-price | instType + (instFamily or instId) | instType + instId, for each FUTURES / SWAP / OPTION instrument |
| liquidation-orders | instType (SWAP, FUTURES, MARGIN, OPTION) | the instTypes of the instruments; a SPOT pair stands for MARGIN |
| opt-summary | instFamily | the families of the OPTION instruments |
| instruments | instType | the instTypes of the instruments |
| status | no argument | one arg |

The pipeline derives the same scopes from the subscribed instruments, so a push for a
scope nobody subscribed to is quarantined like one for an unsubscribed instId.
"""  # noqa: E501

from __future__ import annotations

from collections.abc import Iterable

from .decoder import SCOPED_CHANNELS as ARG_KEYS  # channel -> arg key ("": status)
from .rest import inst_type_of

ESTIMATED_PRICE_TYPES = frozenset({"FUTURES", "SWAP", "OPTION"})
# instType of an instrument -> the liquidation-orders instType it stands for.
_LIQUIDATION_TYPE = {"SPOT": "MARGIN", "SWAP": "SWAP", "FUTURES": "FUTURES", "OPTION": "OPTION"}


def scope_values(channel: str, instruments: Iterable[str]) -> list[str]:
    """The arg values (instType / instFamily / "") that `channel` is subscribed with."""
    kinds = [inst_type_of(i) for i in instruments]
    if channel == "liquidation-orders":
        values = {_LIQUIDATION_TYPE[t] for t, _ in kinds}
    elif channel == "instruments":
        values = {t for t, _ in kinds}
    elif channel == "opt-summary":
        values = {f for t, f in kinds if t == "OPTION" and f}
    elif channel == "status":
        values = {""}
    else:
        raise KeyError(f"{channel} is subscribed per instId")
    return sorted(values)


def subscribe_args(channel: str, instruments: list[str]) -> list[dict[str, str]]:
    """The subscribe args of one configured channel."""
    key = ARG_KEYS.get(channel)
    if key is not None:
        values = scope_values(channel, instruments)
        return [{"channel": channel, key: v} if key else {"channel": channel} for v in values]
    if channel == "estimated-price":
        return [
            {"channel": channel, "instType": t, "instId": inst}
            for inst in instruments
            if (t := inst_type_of(inst)[0]) in ESTIMATED_PRICE_TYPES
        ]
    return [{"channel": channel, "instId": inst} for inst in instruments]


def subscribed_scopes(instruments: Iterable[str]) -> frozenset[tuple[str, str]]:
    """(channel, value) of every scoped subscription the instruments imply."""
    insts = list(instruments)
    return frozenset((ch, v) for ch in ARG_KEYS for v in scope_values(ch, insts))
