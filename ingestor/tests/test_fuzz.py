"""10,000 fuzzed messages: the pipeline never raises and counts every message."""

from __future__ import annotations

import random

from okx_ingestor.pipeline import Pipeline
from okx_ingestor.synth import MarketGenerator


def mutate(rng: random.Random, text: str) -> str:
    choice = rng.randrange(8)
    if choice == 0:  # truncate
        return text[: rng.randrange(len(text))]
    if choice == 1:  # flip characters
        chars = list(text)
        for _ in range(rng.randint(1, 5)):
            chars[rng.randrange(len(chars))] = rng.choice('{}[]":,0123456789abc-.ex ')
        return "".join(chars)
    if choice == 2:  # swap value types
        return text.replace('"', "", rng.randint(1, 6))
    if choice == 3:
        return rng.choice(
            [
                "null",
                "[]",
                "1",
                '"x"',
                "{}",
                '{"arg":{}}',
                '{"event":5}',
                '{"arg":{"channel":"books","instId":1},"data":{}}',
                "pong",
                "",
            ]
        )
    if choice == 4:  # numbers out of range / odd values
        return text.replace('"0"', rng.choice(['"NaN"', '"-0"', '"1e999"', "1e400", "null"]))
    if choice == 5:
        return text.replace("seqId", rng.choice(["seqid", "prevSeqId", "x"]))
    if choice == 6:
        return text.replace('"update"', rng.choice(['"snapshot"', '"upd"', "null"]))
    return text


def test_fuzzed_messages_never_crash_and_are_counted() -> None:
    rng = random.Random(1234)
    gen = MarketGenerator(["BTC-USDT", "ETH-USDT"], seed=99, depth=30)
    messages = gen.stream(200) + [mutate(rng, gen.next_message()) for _ in range(10_000)]
    rows: list[object] = []
    pipeline = Pipeline(lambda t, r: rows.append(r))
    for text in messages:
        pipeline.process(text)
    s = pipeline.stats
    assert s.messages == len(messages)
    # every message is either data, an event, a pong, or a counted parse error
    assert s.data_messages + sum(s.events.values()) + s.pongs + s.parse_errors == s.messages
    assert s.parse_errors > 1000 and s.data_messages > 1000
    assert len(pipeline.summary()["parse_error_kinds"]) > 5  # type: ignore[arg-type]
