"""OKX v5 WebSocket login: the credentials, the signed request, and what its errors mean.

OKX's procedure (docs-v5, WebSocket "Login"): `timestamp` is Unix time in seconds (a
string), `sign` = Base64(HMAC-SHA256(secretKey, timestamp + "GET" + "/users/self/verify")),
sent as `{"op":"login","args":[{"apiKey","passphrase","timestamp","sign"}]}`; the request
expires 30 s after its timestamp. Success: `{"event":"login","code":"0",...}`; failure:
`{"event":"error","code":"60009",...}` (and the other 600xx codes below).

Secrets never reach a log: `Credentials` hides them in its repr, and nothing here logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field

import orjson

VERIFY_PATH = "/users/self/verify"
LOGIN_EXPIRY_S = 30  # OKX rejects a login whose timestamp is older (60006)

# Login answers that retrying cannot fix: the credentials or the clock are wrong.
LOGIN_FATAL = {
    "60004": "invalid timestamp: check the host clock (chrony)",
    "60005": "invalid apiKey: check the API key in the vault",
    "60006": "login timestamp expired: the host clock is more than 30 s off (chrony)",
    "60007": "invalid sign: check the secret key in the vault",
    "60009": "login failed: check the API key, secret key and passphrase in the vault",
    "60024": "wrong passphrase: check the passphrase in the vault",
    "60031": "the API key does not exist: create it on OKX or fix the vault",
}
# Subscription answers that retrying cannot fix (per channel: the account, not the link).
CHANNEL_FATAL = {
    "64003": "fee tier too low for this channel (OKX: VIP4+ for *-l2-tbt): use books or "
    "bbo-tbt, or remove the channel",
    "60011": "this channel needs a login: set login credentials (l2-tbt channels)",
}
FATAL = {**LOGIN_FATAL, **CHANNEL_FATAL}


@dataclass(frozen=True)
class Credentials:
    """An OKX API key; the secret and the passphrase never appear in repr() or logs."""

    api_key: str
    secret_key: str = field(repr=False)
    passphrase: str = field(repr=False)


def sign(secret_key: str, timestamp: str) -> str:
    """Base64(HMAC-SHA256(secret, timestamp + "GET" + "/users/self/verify"))."""
    message = f"{timestamp}GET{VERIFY_PATH}".encode()
    digest = hmac.new(secret_key.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def login_request(creds: Credentials, now_s: float | None = None) -> str:
    """The login op's text, signed now (or at `now_s`, for tests)."""
    timestamp = str(int(time.time() if now_s is None else now_s))
    arg = {
        "apiKey": creds.api_key,
        "passphrase": creds.passphrase,
        "timestamp": timestamp,
        "sign": sign(creds.secret_key, timestamp),
    }
    return orjson.dumps({"op": "login", "args": [arg]}).decode()


def verify(creds: Credentials, arg: dict[str, object], now_s: float | None = None) -> str:
    """What OKX answers a login arg, as an error code ("0" = logged in). The simulator's
    check; OKX's own order of checks is not documented, this one is plausible."""
    timestamp = str(arg.get("timestamp", ""))
    if not timestamp.isdigit():
        return "60004"
    now = time.time() if now_s is None else now_s
    if abs(now - int(timestamp)) > LOGIN_EXPIRY_S:
        return "60006"
    if arg.get("apiKey") != creds.api_key:
        return "60005"
    if arg.get("passphrase") != creds.passphrase:
        return "60024"
    if not hmac.compare_digest(str(arg.get("sign", "")), sign(creds.secret_key, timestamp)):
        return "60007"
    return "0"
