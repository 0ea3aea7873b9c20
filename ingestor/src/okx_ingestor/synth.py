"""Deterministic OKX-shaped market data: books (seqId chain, checksum 0), trades, tickers.

Used by the simulator, the tests and the benchmark. Prices are generated as integer
ticks and formatted as decimal strings, so they are exact.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson


def _px(ticks: int) -> str:
    return f"{ticks // 10}.{ticks % 10}"


@dataclass
class _Inst:
    inst_id: str
    mid: int
    seq: int
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)
    trade_id: int = 1000
    pending_gap: bool = False
    pending_reset: bool = False
    pending_cross: bool = False


class MarketGenerator:
    """Generates a mixed stream; `mix` = (books, trades, tickers) weights."""

    def __init__(
        self,
        inst_ids: list[str],
        *,
        seed: int = 7,
        depth: int = 50,
        mix: tuple[int, int, int] = (6, 3, 1),
        book_channel: str = "books",
        ts0: int = 1_763_942_400_000,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.rng = random.Random(seed)
        # A live source (the simulator) stamps messages with the wall clock, as OKX does:
        # otherwise TTLs drop the rows and exchange-to-receive lag reads as months.
        # Without one (tests, benchmarks) timestamps are ts0 + 1 ms per message: repeatable.
        self.clock_ms = clock_ms
        self.depth = depth
        self.book_channel = book_channel
        self.ts = ts0
        self.insts = [_Inst(i, 300_000 + 1000 * n, 1_000 + n * 10) for n, i in enumerate(inst_ids)]
        self._kinds = ["books"] * mix[0] + ["trades"] * mix[1] + ["tickers"] * mix[2]
        self.trades_sent: list[tuple[str, str]] = []  # (instId, tradeId)
        for inst in self.insts:
            self._fill(inst)

    # -- books -----------------------------------------------------------------------
    def _fill(self, inst: _Inst) -> None:
        inst.bids = {inst.mid - 1 - i: self.rng.randint(1, 500) for i in range(self.depth)}
        inst.asks = {inst.mid + 1 + i: self.rng.randint(1, 500) for i in range(self.depth)}

    def snapshot(self, inst_id: str) -> str:
        inst = self._inst(inst_id)
        self._fill(inst)
        inst.seq += 1
        data = {
            "asks": [[_px(p), str(s), "0", "1"] for p, s in sorted(inst.asks.items())],
            "bids": [
                [_px(p), str(s), "0", "1"] for p, s in sorted(inst.bids.items(), reverse=True)
            ],
            "ts": str(self._tick()),
            "checksum": 0,
            "prevSeqId": -1,
            "seqId": inst.seq,
        }
        return self._push(self.book_channel, inst_id, [data], action="snapshot")

    def rest_book(self, inst_id: str) -> dict[str, object]:
        """The current book as /api/v5/market/books returns it (with seqId)."""
        inst = self._inst(inst_id)
        return {
            "asks": [[_px(p), str(s), "0", "1"] for p, s in sorted(inst.asks.items())],
            "bids": [[_px(p), str(s), "0", "1"] for p, s in sorted(inst.bids.items())[::-1]],
            "ts": str(self.ts),
            "seqId": inst.seq,
        }

    def book_update(self, inst: _Inst) -> str:
        rng = self.rng
        asks: list[list[str]] = []
        bids: list[list[str]] = []
        for _ in range(rng.randint(1, 4)):
            side, out = (inst.bids, bids) if rng.random() < 0.5 else (inst.asks, asks)
            sign = -1 if side is inst.bids else 1
            px = inst.mid + sign * rng.randint(1, self.depth)
            size = 0 if (px in side and rng.random() < 0.3) else rng.randint(1, 500)
            if size:
                side[px] = size
            else:
                side.pop(px, None)
            out.append([_px(px), str(size), "0", "1" if size else "0"])
        if inst.pending_cross:  # a bid above the best ask, in this push only: a corrupt
            inst.pending_cross = False  # book for the receiver (the generator's stays sane)
            bids.append([_px(min(inst.asks, default=inst.mid + 1) + 2), "7", "0", "1"])
        prev = inst.seq
        if inst.pending_gap:
            prev += 5  # the updates in between were "lost"
            inst.pending_gap = False
        inst.seq = prev + 1
        if inst.pending_reset:
            inst.seq = 1  # documented reset: seqId < prevSeqId
            inst.pending_reset = False
        data = {
            "asks": asks,
            "bids": bids,
            "ts": str(self._tick()),
            "checksum": 0,
            "prevSeqId": prev,
            "seqId": inst.seq,
        }
        return self._push(self.book_channel, inst.inst_id, [data], action="update")

    def heartbeat(self, inst_id: str) -> str:
        inst = self._inst(inst_id)
        data = {
            "asks": [],
            "bids": [],
            "ts": str(self._tick()),
            "checksum": 0,
            "prevSeqId": inst.seq,
            "seqId": inst.seq,
        }
        return self._push(self.book_channel, inst_id, [data], action="update")

    # -- trades / tickers ------------------------------------------------------------
    def trade(self, inst: _Inst) -> str:
        inst.trade_id += 1
        side = "buy" if self.rng.random() < 0.5 else "sell"
        px = inst.mid + (1 if side == "buy" else -1)
        tid = str(inst.trade_id)
        self.trades_sent.append((inst.inst_id, tid))
        data = {
            "instId": inst.inst_id,
            "tradeId": tid,
            "px": _px(px),
            "sz": f"0.{self.rng.randint(1, 99999):05d}",
            "side": side,
            "ts": str(self._tick()),
            "count": "1",
            "source": "0",
            "seqId": inst.seq,
        }
        return self._push("trades", inst.inst_id, [data])

    def ticker(self, inst: _Inst) -> str:
        data = {
            "instType": "SPOT",
            "instId": inst.inst_id,
            "last": _px(inst.mid),
            "lastSz": "0.1",
            "askPx": _px(inst.mid + 1),
            "askSz": "11",
            "bidPx": _px(inst.mid - 1),
            "bidSz": "5",
            "open24h": "9000",
            "high24h": "10000",
            "low24h": "8888.8",
            "volCcy24h": "2222",
            "vol24h": "2222",
            "sodUtc0": "2222",
            "sodUtc8": "2222",
            "ts": str(self._tick()),
        }
        return self._push("tickers", inst.inst_id, [data])

    # -- stream ----------------------------------------------------------------------
    def snapshots(self) -> list[str]:
        return [self.snapshot(i.inst_id) for i in self.insts]

    def next_message(self) -> str:
        inst = self.rng.choice(self.insts)
        kind = self.rng.choice(self._kinds)
        if kind == "books":
            return self.book_update(inst)
        if kind == "trades":
            return self.trade(inst)
        return self.ticker(inst)

    def stream(self, n: int) -> list[str]:
        """Snapshots for every instrument, then `n` mixed messages."""
        out = self.snapshots()
        out.extend(self.next_message() for _ in range(n))
        return out

    def inject_gap(self, inst_id: str) -> None:
        self._inst(inst_id).pending_gap = True

    def inject_reset(self, inst_id: str) -> None:
        self._inst(inst_id).pending_reset = True

    def inject_cross(self, inst_id: str) -> None:
        """The next books update carries a bid above the best ask (crossed book)."""
        self._inst(inst_id).pending_cross = True

    def _inst(self, inst_id: str) -> _Inst:
        for inst in self.insts:
            if inst.inst_id == inst_id:
                return inst
        raise KeyError(f"unknown instrument {inst_id!r}; known: {[i.inst_id for i in self.insts]}")

    def _tick(self) -> int:
        self.ts += 1
        if self.clock_ms is not None:
            self.ts = max(self.ts, self.clock_ms())  # never backwards, unique per message
        return self.ts

    @staticmethod
    def _push(channel: str, inst_id: str, data: list[object], action: str | None = None) -> str:
        msg: dict[str, object] = {"arg": {"channel": channel, "instId": inst_id}}
        if action is not None:
            msg["action"] = action
        msg["data"] = data
        return orjson.dumps(msg).decode()
