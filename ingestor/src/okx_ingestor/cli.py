"""`okx-ingestor` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, speedups

if TYPE_CHECKING:  # config imports yaml; each subcommand imports only what it needs
    from .config import Config


def _replay(args: argparse.Namespace) -> int:
    from .replay import replay_file

    summary = replay_file(
        Path(args.input),
        Path(args.output),
        database=args.database,
        book_levels=not args.no_book_levels,
        quarantine_path=Path(args.quarantine) if args.quarantine else None,
        inst_ids=[i for i in args.inst_ids.split(",") if i] if args.inst_ids else None,
    )
    import orjson

    sys.stdout.write(orjson.dumps(summary, option=orjson.OPT_INDENT_2).decode() + "\n")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from .recording import convert_recording

    count = convert_recording(Path(args.input), Path(args.output))
    sys.stdout.write(f'{{"messages": {count}}}\n')
    return 0


def _load_config(args: argparse.Namespace) -> Config | None:
    """The validated --config file, or None after printing the error (exit code 2)."""
    from .config import ConfigError, load_config

    try:
        return load_config(Path(args.config))
    except ConfigError as exc:
        sys.stderr.write(f"okx-ingestor: {exc}\n")
        return None


def _check_config(args: argparse.Namespace) -> int:
    cfg = _load_config(args)
    if cfg is None:
        return 2
    from .planner import plan_connections

    subs = cfg.subscriptions()
    plan = plan_connections(subs, cfg.max_channels_per_connection)
    logins = sum(p.login for p in plan)
    sys.stdout.write(
        f"config OK: {len(cfg.instruments)} instruments, "
        f"{sum(len(a) for a in subs.values())} subscriptions on {len(subs)} URL(s), "
        f"{len(plan)} connection(s) ({logins} logging in), "
        f"sinks: {', '.join(cfg.sinks)}; book loops: {speedups.IMPLEMENTATION}\n"
    )
    return 0


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from .logs import setup_logging
    from .service import Service

    cfg = _load_config(args)
    if cfg is None:
        return 2
    setup_logging(cfg.log_level)

    async def main() -> int:
        service = Service(cfg)
        service.start_metrics()
        return await service.run()

    return asyncio.run(main())


def _simulate(args: argparse.Namespace) -> int:
    import asyncio

    from .logs import setup_logging
    from .simulator import FAULTS, run_simulator

    setup_logging("INFO")
    faults: list[tuple[str, float]] = []
    for spec in args.fault or []:
        kind, _, period = spec.partition("@")
        if kind not in FAULTS or not period.replace(".", "", 1).isdigit():
            sys.stderr.write(
                f"okx-ingestor: --fault {spec!r}: use KIND@SECONDS, KIND one of "
                f"{', '.join(FAULTS)}\n"
            )
            return 2
        faults.append((kind, float(period)))
    instruments = args.instruments.split(",")
    asyncio.run(
        run_simulator(
            instruments,
            args.rate,
            args.port,
            faults,
            not args.no_ws_snapshots,
            args.rest_port,
            not args.no_trade_history,
        )
    )
    return 0


def _dead_letter(args: argparse.Namespace) -> int:
    """List (or requeue into the spool) the batches sinks rejected for good."""
    import orjson

    from .spool import DeadLetter, Spool

    cfg = _load_config(args)
    if cfg is None:
        return 2
    for name in [args.sink] if args.sink else cfg.spooled_sinks():
        directory = cfg.dead_letter_path(name)
        if not directory.is_dir():
            continue
        dead = DeadLetter(directory, max_bytes=cfg.dead_letter_max_bytes)
        if args.requeue:
            moved = dead.requeue(Spool(cfg.spool_path(name), max_bytes=cfg.spool_max_bytes))
            sys.stdout.write(orjson.dumps({"sink": name, "requeued": moved}).decode() + "\n")
            continue
        for path, record in dead.entries():
            batch = record.get("batch") or {}
            line = {
                "sink": name,
                "file": str(path),
                "table": record.get("table"),
                "kind": record.get("kind"),
                "rows": len(batch.get("rows", [])) if isinstance(batch, dict) else 0,
                "error": record.get("error"),
            }
            sys.stdout.write(orjson.dumps(line).decode() + "\n")
    return 0


def _query(args: argparse.Namespace) -> int:
    """One SQL statement against an embedded ClickHouse (chdb) directory."""
    path = Path(args.chdb)
    if not path.is_dir():
        sys.stderr.write(f"okx-ingestor: no chdb directory at {path}\n")
        return 2
    try:
        from chdb import session
    except ImportError:
        sys.stderr.write(
            "okx-ingestor: query needs chdb-core: pip install 'okx-hft-ingestor[chdb]'\n"
        )
        return 2
    try:
        sess = session.Session(str(path))
    except Exception as exc:  # chdb: one process per directory
        sys.stderr.write(
            f"okx-ingestor: cannot open {path}: {exc}\n(stop the instance that writes it "
            "first: chdb allows one process per directory)\n"
        )
        return 1
    try:
        sys.stdout.write(str(sess.query(args.sql, args.format)))
    except Exception as exc:
        sys.stderr.write(f"okx-ingestor: query failed: {exc}\n")
        return 1
    finally:
        sess.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="okx-ingestor", description=__doc__)
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the ingestor")
    p.add_argument("--config", required=True, help="YAML config file")
    p.set_defaults(func=_run)

    p = sub.add_parser("check-config", help="validate a config file and exit")
    p.add_argument("--config", required=True)
    p.set_defaults(func=_check_config)

    p = sub.add_parser("simulate", help="serve a local OKX-protocol WebSocket simulator")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--rate", type=float, default=1000.0, help="messages per second")
    p.add_argument("--instruments", default="BTC-USDT,ETH-USDT,BTC-USDT-SWAP")
    p.add_argument(
        "--no-trade-history",
        action="store_true",
        help="trade only while a client listens and serve no /api/v5/market/history-trades "
        "(default: trades go on, the last 5000 per instrument are served, for the backfill)",
    )
    p.add_argument(
        "--fault",
        action="append",
        help="KIND@SECONDS, repeatable: disconnect, gap, reset, malformed, no_pong, notice",
    )
    p.add_argument(
        "--no-ws-snapshots",
        action="store_true",
        help="no books snapshot after subscribe (clients must use the REST endpoint)",
    )
    p.add_argument(
        "--rest-port", type=int, default=0, help="REST (books, instruments) port; 0 = any free"
    )
    p.set_defaults(func=_simulate)

    p = sub.add_parser(
        "dead-letter",
        help="list the batches sinks rejected for good; --requeue moves them back to the spool",
    )
    p.add_argument("--config", required=True)
    p.add_argument("--sink", help="only this sink (default: every spooled sink)")
    p.add_argument(
        "--requeue",
        action="store_true",
        help="after fixing the cause, append them to the spool again (stop the instance first)",
    )
    p.set_defaults(func=_dead_letter)

    p = sub.add_parser(
        "query", help="run SQL on a chdb directory (stop the instance writing it first)"
    )
    p.add_argument("--chdb", required=True, help="the chdb sink's path")
    p.add_argument("--format", default="TSV", help="ClickHouse output format (TSV, JSON, ...)")
    p.add_argument("sql")
    p.set_defaults(func=_query)

    p = sub.add_parser("replay", help="run recorded raw OKX messages through the pipeline")
    p.add_argument("--input", required=True, help="JSON lines of raw OKX WebSocket messages")
    p.add_argument("--output", required=True, help="where to write {table, row} JSON lines")
    p.add_argument("--database", default="hft_data")
    p.add_argument(
        "--no-book-levels",
        action="store_true",
        help="do not write book_l2 rows (the levels of every applied book message)",
    )
    p.add_argument(
        "--quarantine",
        help="JSON lines file for the frames and rows set aside (default: only counted, "
        "in the summary's `quarantined`)",
    )
    p.add_argument(
        "--inst-ids",
        help="comma-separated instIds the recording subscribed to: pushes for any other "
        "are quarantined (unsubscribed_inst_id); default: any well-formed instId",
    )
    p.set_defaults(func=_replay)

    p = sub.add_parser(
        "convert-recording", help="cryptofeed-style recording (TS: JSON) -> plain JSON lines"
    )
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.set_defaults(func=_convert)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except FileNotFoundError as exc:
        sys.stderr.write(f"okx-ingestor: file not found: {exc.filename}\n")
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
