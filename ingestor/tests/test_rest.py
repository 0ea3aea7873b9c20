from __future__ import annotations

import pytest
from okx_ingestor.rest import RestError, fetch_books_snapshot, parse_books_response


def test_parse_books_response() -> None:
    snap = parse_books_response(
        b'{"code":"0","msg":"","data":[{"asks":[["41006.8","0.6","0","1"]],'
        b'"bids":[["41006.3","0.3","0","1"]],"ts":"1629966436396","seqId":123}]}'
    )
    assert snap.seq_id == 123 and snap.ts == 1629966436396 and snap.asks[0][0] == "41006.8"


@pytest.mark.parametrize(
    ("body", "match"),
    [
        (b"<html>", "not JSON"),
        (b'{"code":"51001","msg":"Instrument ID does not exist","data":[]}', "51001"),
        (b'{"code":"0","data":[]}', "no data"),
        (b'{"code":"0","data":[{"asks":[],"bids":[],"ts":"1700000000000"}]}', "no seqId"),
        (
            b'{"code":"0","data":[{"asks":[["x"]],"bids":[],"ts":"1700000000000","seqId":1}]}',
            "malformed",
        ),
    ],
)
def test_bad_responses_raise_rest_error(body: bytes, match: str) -> None:
    with pytest.raises(RestError, match=match):
        parse_books_response(body)


def test_unreachable_rest_raises_rest_error() -> None:
    with pytest.raises(RestError, match="failed"):
        fetch_books_snapshot("http://127.0.0.1:1", "BTC-USDT", timeout_s=1)
