-- name: book_sequence_breaks
-- summary: order-book updates whose prevSeqId is not the seqId stored before them
-- threshold: 0
-- Per instrument and channel, in the order the ingestor received them, every `update`
-- must chain onto the message stored before it (prev_seq_id = that message's seq_id).
-- A snapshot (prev_seq_id = -1) starts a new chain, so a resync is not a break; the
-- keep-alive update (seq_id = prev_seq_id) and OKX's sequence reset after maintenance
-- (seq_id < prev_seq_id, prev_seq_id still the last seq_id) chain normally. The first
-- message of each instrument in the window is not judged: its predecessor is earlier.
SELECT inst_id, channel, ts, received_at, expected_prev_seq_id, prev_seq_id, seq_id
FROM
(
    SELECT inst_id, channel, ts, received_at, action, seq_id, prev_seq_id,
           lagInFrame(seq_id) OVER w AS expected_prev_seq_id,
           row_number() OVER w AS n
    FROM ${db_data}.book_l2
    WHERE ts >= toDateTime64('${since}', 3, 'UTC') AND ts < toDateTime64('${until}', 3, 'UTC')
    WINDOW w AS (PARTITION BY inst_id, channel ORDER BY received_at, seq_id
                 ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
)
WHERE n > 1 AND action = 'update' AND prev_seq_id != expected_prev_seq_id
ORDER BY inst_id, channel, received_at
