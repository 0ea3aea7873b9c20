"""Which subscription goes on which connection: a pure function, no I/O.

Rules (OKX v5 WebSocket):
- At most `max_args` subscriptions per connection (connection.max_channels_per_connection).
- Channels that need a login (books-l2-tbt, books50-l2-tbt) get connections of their
  own, one channel per connection: the other connections need no login (no secret on
  them, no login op from their 480-per-hour budget), and an answer that cannot be fixed
  by retrying (64003 fee tier, a login error) stops exactly that channel.
- Two channels of `CONFLICTS` for the same instId never share a connection (OKX answers
  64004: books-l2-tbt with books or books50-l2-tbt).
- Otherwise the order of the args is kept (the same connections as before login planning).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Channels that need `login` on their connection.
LOGIN_CHANNELS = frozenset({"books-l2-tbt", "books50-l2-tbt"})
# Pairs of channels one connection must not carry for the same instId (64004).
CONFLICTS = frozenset(
    {
        frozenset({"books-l2-tbt", "books"}),
        frozenset({"books-l2-tbt", "books50-l2-tbt"}),
    }
)

Arg = dict[str, str]


@dataclass
class PlannedConnection:
    url: str
    args: list[Arg] = field(default_factory=list)
    login: bool = False


def conflicts(a: Arg, b: Arg) -> bool:
    """Would OKX refuse these two on one connection (64004)?"""
    # Scope args (instType / instFamily, no instId: issue-13 channels) never conflict.
    inst = a.get("instId")
    return (
        inst is not None
        and inst == b.get("instId")
        and (frozenset({a["channel"], b["channel"]}) in CONFLICTS)
    )


def _pack(url: str, args: list[Arg], max_args: int, login: bool) -> list[PlannedConnection]:
    """First fit, in order: each arg on the first connection with room and no conflict."""
    out: list[PlannedConnection] = []
    for arg in args:
        for conn in out:
            if len(conn.args) < max_args and not any(conflicts(arg, o) for o in conn.args):
                conn.args.append(arg)
                break
        else:
            out.append(PlannedConnection(url, [arg], login))
    return out


def plan_connections(subscriptions: dict[str, list[Arg]], max_args: int) -> list[PlannedConnection]:
    """URL -> subscribe args (Config.subscriptions()) -> the connections to open."""
    if max_args < 1:
        raise ValueError("max_args must be >= 1")
    out: list[PlannedConnection] = []
    for url, args in subscriptions.items():
        public = [a for a in args if a["channel"] not in LOGIN_CHANNELS]
        out.extend(_pack(url, public, max_args, login=False))
        for channel in sorted({a["channel"] for a in args} & LOGIN_CHANNELS):
            mine = [a for a in args if a["channel"] == channel]
            out.extend(_pack(url, mine, max_args, login=True))
    return out


def check_plan(plan: list[PlannedConnection], max_args: int) -> list[str]:
    """What is wrong with a plan (empty = nothing): for tests and check-config."""
    problems = []
    for i, conn in enumerate(plan):
        if len(conn.args) > max_args:
            problems.append(f"connection {i}: {len(conn.args)} args > {max_args}")
        for j, a in enumerate(conn.args):
            if a["channel"] in LOGIN_CHANNELS and not conn.login:
                problems.append(f"connection {i}: {a['channel']} without login")
            for b in conn.args[j + 1 :]:
                if conflicts(a, b):
                    problems.append(f"connection {i}: {a} conflicts with {b} (64004)")
    return problems
