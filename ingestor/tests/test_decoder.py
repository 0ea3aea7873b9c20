from __future__ import annotations

import pytest
from okx_ingestor.decoder import (
    PONG,
    BookMsg,
    DecodeError,
    Event,
    FundingRate,
    IndexTicker,
    MarkPrice,
    RecordsMsg,
    Ticker,
    TradesMsg,
    decode,
)

# Message shapes copied from OKX's v5 documentation (see shared okx-reference notes).
TRADES = (
    '{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
    '"tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy",'
    '"ts":"1630048897897","count":"3","source":"0","seqId":1234}]}'
)
TRADES_ALL = (
    '{"arg":{"channel":"trades-all","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
    '"tradeId":"130639474","px":"42219.9","sz":"0.12060306","side":"buy","source":"0",'
    '"ts":"1630048897897"}]}'
)
TICKERS = (
    '{"arg":{"channel":"tickers","instId":"BTC-USDT"},"data":[{"instType":"SPOT",'
    '"instId":"BTC-USDT","last":"9999.99","lastSz":"0.1","askPx":"9999.99","askSz":"11",'
    '"bidPx":"8888.88","bidSz":"5","open24h":"9000","high24h":"10000","low24h":"8888.88",'
    '"volCcy24h":"2222","vol24h":"2222","sodUtc0":"2222","sodUtc8":"2222",'
    '"ts":"1597026383085"}]}'
)
FUNDING = (
    '{"arg":{"channel":"funding-rate","instId":"BTC-USD-SWAP"},"data":[{"formulaType":'
    '"noRate","fundingRate":"0.0001875391284828","fundingTime":"1700726400000",'
    '"impactValue":"","instId":"BTC-USD-SWAP","instType":"SWAP","interestRate":"",'
    '"method":"current_period","maxFundingRate":"0.00375","minFundingRate":"-0.00375",'
    '"nextFundingRate":"","nextFundingTime":"1700755200000","premium":"0.0001233824646391",'
    '"settFundingRate":"0.0001699799259033","settState":"settled","ts":"1700724675402"}]}'
)
MARK = (
    '{"arg":{"channel":"mark-price","instId":"LTC-USD-190628"},"data":[{"instType":'
    '"FUTURES","instId":"LTC-USD-190628","markPx":"0.1","ts":"1597026383085"}]}'
)
INDEX = (
    '{"arg":{"channel":"index-tickers","instId":"BTC-USDT"},"data":[{"instId":"BTC-USDT",'
    '"idxPx":"0.1","high24h":"0.5","low24h":"0.1","open24h":"0.1","sodUtc0":"0.1",'
    '"sodUtc8":"0.1","ts":"1597026383085"}]}'
)
BOOKS_UPDATE = (
    '{"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":'
    '[["8476.98","415","0","13"]],"bids":[["8476.97","256","0","12"]],"ts":"1597026383085",'
    '"checksum":0,"prevSeqId":123456,"seqId":123457}]}'
)
BBO_TBT = (
    '{"arg":{"channel":"bbo-tbt","instId":"BCH-USDT-SWAP"},"data":[{"asks":[["111.06",'
    '"55154","0","2"]],"bids":[["111.05","57745","0","2"]],"ts":"1670324386802",'
    '"seqId":363996337}]}'
)
BOOKS5 = (
    '{"arg":{"channel":"books5","instId":"BCH-USDT-SWAP"},"data":[{"asks":[["111.06",'
    '"55154","0","2"],["111.07","1","0","1"]],"bids":[["111.05","57745","0","2"]],'
    '"instId":"BCH-USDT-SWAP","ts":"1670324386802","seqId":363996337}]}'
)


def test_trades_exact_strings_and_int_ms() -> None:
    msg = decode(TRADES)
    assert isinstance(msg, TradesMsg)
    (t,) = msg.trades
    assert (t.inst_id, t.trade_id, t.px, t.sz, t.side) == (
        "BTC-USDT",
        "130639474",
        "42219.9",
        "0.12060306",
        "buy",
    )
    assert t.ts == 1630048897897 and t.count == 3 and t.seq_id == 1234


def test_trades_all() -> None:
    msg = decode(TRADES_ALL)
    assert isinstance(msg, TradesMsg) and msg.channel == "trades-all"
    assert msg.trades[0].count is None and msg.trades[0].seq_id is None


def test_ticker() -> None:
    msg = decode(TICKERS)
    assert isinstance(msg, RecordsMsg)
    (t,) = msg.records
    assert isinstance(t, Ticker)
    assert (t.last, t.bid_px, t.ask_sz, t.vol_ccy24h, t.ts) == (
        "9999.99",
        "8888.88",
        "11",
        "2222",
        1597026383085,
    )


def test_funding_rate_empty_strings_are_none() -> None:
    (f,) = decode(FUNDING).records  # type: ignore[union-attr]
    assert isinstance(f, FundingRate)
    assert f.funding_rate == "0.0001875391284828"
    assert f.funding_time == 1700726400000 and f.next_funding_time == 1700755200000
    assert f.sett_state == "settled" and f.method == "current_period"


def test_mark_and_index() -> None:
    (m,) = decode(MARK).records  # type: ignore[union-attr]
    assert isinstance(m, MarkPrice) and m.mark_px == "0.1" and m.inst_type == "FUTURES"
    (i,) = decode(INDEX).records  # type: ignore[union-attr]
    assert isinstance(i, IndexTicker) and i.idx_px == "0.1" and i.high24h == "0.5"


@pytest.mark.parametrize(
    ("raw", "channel", "action", "seq", "prev"),
    [
        (BOOKS_UPDATE, "books", "update", 123457, 123456),
        (BBO_TBT, "bbo-tbt", None, 363996337, None),
        (BOOKS5, "books5", None, 363996337, None),
        (
            BOOKS_UPDATE.replace('"books"', '"books-l2-tbt"'),
            "books-l2-tbt",
            "update",
            123457,
            123456,
        ),
        (
            BOOKS_UPDATE.replace('"books"', '"books50-l2-tbt"'),
            "books50-l2-tbt",
            "update",
            123457,
            123456,
        ),
    ],
)
def test_book_channels(raw: str, channel: str, action: str | None, seq: int, prev: int) -> None:
    msg = decode(raw)
    assert isinstance(msg, BookMsg)
    assert (msg.channel, msg.action) == (channel, action)
    (d,) = msg.items
    assert (d.seq_id, d.prev_seq_id) == (seq, prev)
    assert d.asks[0][0] in ("8476.98", "111.06")


def test_events() -> None:
    ack = decode(
        '{"id":"1512","event":"subscribe","arg":{"channel":"tickers","instId":"BTC-USDT"},'
        '"connId":"accb8e21"}'
    )
    assert isinstance(ack, Event) and ack.event == "subscribe" and ack.req_id == "1512"
    assert ack.arg == {"channel": "tickers", "instId": "BTC-USDT"} and ack.conn_id == "accb8e21"
    err = decode(
        '{"id":"1512","event":"error","code":"60012","msg":"Invalid request: {}",'
        '"connId":"a4d3ae55"}'
    )
    assert isinstance(err, Event) and err.event == "error" and err.code == "60012"
    notice = decode(
        '{"event":"notice","code":"64008","msg":"The connection will soon be closed for a '
        'service upgrade. Please reconnect.","connId":"a4d3ae55"}'
    )
    assert isinstance(notice, Event) and notice.code == "64008"
    assert decode("pong") is PONG and decode(b"pong") is PONG


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ("{not json", "invalid_json"),
        ("[1,2]", "not_an_object"),
        ('{"arg":{"channel":"candle1m","instId":"X"},"data":[]}', "unknown_channel:candle1m"),
        (TRADES.replace('"42219.9"', '"nan"'), "bad_number:px"),
        (TRADES.replace('"42219.9"', "42219.9"), "bad_number:px"),
        (TRADES.replace('"buy"', '"hold"'), "bad_side"),
        (TRADES.replace('"1630048897897"', '"yesterday"'), "bad_timestamp:ts"),
        (TRADES.replace('"tradeId"', '"tid"'), "bad_shape:trades"),
        (BOOKS_UPDATE.replace('"checksum":0', '"checksum":"0"'), "bad_integer:checksum"),
        (BOOKS_UPDATE.replace('["8476.98","415","0","13"]', '["x"]'), "bad_levels:asks"),
    ],
)
def test_malformed_raises_decode_error_with_kind(raw: str, kind: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode(raw)
    assert info.value.kind == kind


def test_every_2022_message_decodes(recording_2022: list[str]) -> None:
    kinds: dict[str, int] = {}
    for raw in recording_2022:
        msg = decode(raw)
        key = getattr(msg, "channel", None) or getattr(msg, "event", "?")
        kinds[key] = kinds.get(key, 0) + 1
    assert kinds == {"books": 290, "trades": 74, "tickers": 28, "subscribe": 18}
    assert len(recording_2022) == 410
