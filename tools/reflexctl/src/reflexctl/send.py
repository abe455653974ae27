"""`reflexctl send`: POST one correctly signed test webhook to an ingress source and print the answer.

    reflexctl send --kind stripe --url http://localhost:8080/api/v1/events/stripe \\
        --secret env:STRIPE_WEBHOOK_SECRET --body @event.json

`--secret` takes a literal, `env:VAR` (from the environment, else from `.run/env`: see runenv.py) or
`file:PATH` (prefer the last two: shell history keeps literals). Exits 0 on a 2xx answer, 1 on any
other answer or a transport failure, 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path

from reflexctl.runenv import RUN_ENV, lookup
from reflexctl.signing import SIGNERS, Delivery, sign

# (url, headers, body, timeout_s) -> (status, response body); raises OSError when nothing came back.
Transport = Callable[[str, Mapping[str, str], bytes, float], tuple[int, bytes]]


def urllib_transport(url: str, headers: Mapping[str, str], body: bytes, timeout_s: float) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def resolve_secret(ref: str) -> str:
    """A literal, `env:VAR` or `file:PATH` (trailing newline dropped); ValueError when unusable."""
    if ref.startswith("env:"):
        found = lookup(ref[4:])
        if found is None:
            raise ValueError(
                f"{ref[4:]} is set neither in the environment nor in {RUN_ENV} (where make run may keep it); "
                "a variable of another process (the ingress's) is not visible here: use file:PATH"
            )
        return found.value
    if ref.startswith("file:"):
        try:
            value = Path(ref[5:]).read_text().rstrip("\r\n")
        except OSError as exc:
            raise ValueError(f"cannot read {ref[5:]}: {exc.strerror}") from exc
        if not value:
            raise ValueError(f"{ref[5:]} is empty")
        return value
    if not ref:
        raise ValueError("empty secret")
    return ref


def read_body(value: str | None, kind: str, event: str | None, delivery_id: str, timestamp_s: int) -> bytes:
    """`@file` is sent as it is; inline text must be JSON; no body sends a small sample event."""
    if value is None:
        return json.dumps(sample(kind, event, delivery_id, timestamp_s), separators=(",", ":")).encode()
    if value.startswith("@"):
        try:
            return Path(value[1:]).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {value[1:]}: {exc.strerror}") from exc
    try:
        json.loads(value)
    except json.JSONDecodeError as exc:
        raise ValueError(f"--body is not JSON ({exc.msg}); use @file for other bodies") from exc
    return value.encode()


def sample(kind: str, event: str | None, delivery_id: str, timestamp_s: int) -> dict[str, object]:
    """A small body of the shape the kind's sender uses, naming its dedup key where it has one."""
    name = event or "reflexctl.test"
    if kind == "slack":
        return {"type": "event_callback", "event_id": f"Ev{delivery_id[:8]}", "event": {"type": name}}
    if kind == "pagerduty":
        return {"event": {"id": delivery_id, "event_type": name, "occurred_at": timestamp_s}}
    if kind == "discord":
        return {"type": 2, "id": delivery_id, "data": {"name": name}}
    if kind == "zoom":
        return {"event": name, "event_ts": timestamp_s * 1000, "payload": {}}
    if kind == "twilio":
        return {"MessageSid": f"SM{delivery_id.replace('-', '')}", "Body": name}
    return {"id": delivery_id, "type": name, "created": timestamp_s}


def parse_options(pairs: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--option wants NAME=VALUE, got {pair!r}")
        options[name] = value
    return options


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("send", help="POST a correctly signed test webhook to a source")
    parser.add_argument("--kind", required=True, choices=sorted(SIGNERS), help="the source's kind")
    parser.add_argument("--url", required=True, help="the source's public URL (kinds like twilio sign it)")
    parser.add_argument("--secret", required=True, help="the source's secret: literal, env:VAR or file:PATH")
    parser.add_argument("--body", help="a JSON body, or @file sent as it is (default: a sample event)")
    parser.add_argument("--event", help="the event type or topic header, where the kind has one")
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="kind-specific signing option (hmac header, sns topic_arn, twilio json=true, ...)",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the answer")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace, transport: Transport = urllib_transport) -> int:
    timestamp_s = int(time.time())
    delivery_id = str(uuid.uuid4())
    try:
        delivery = Delivery(
            secret=resolve_secret(args.secret),
            body=read_body(args.body, args.kind, args.event, delivery_id, timestamp_s),
            timestamp_s=timestamp_s,
            url=args.url,
            event=args.event,
            delivery_id=delivery_id,
            options=parse_options(args.option),
        )
        signed = sign(args.kind, delivery)
    except (ValueError, TypeError) as exc:  # TypeError: e.g. a passphrase-protected key for sns
        print(f"reflexctl send: {exc}", file=sys.stderr)
        return 2
    try:
        status, body = transport(signed.url_for(args.url), signed.headers, signed.body, args.timeout)
    except OSError as exc:
        print(f"reflexctl send: no answer from {args.url}: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # e.g. a header value HTTP cannot carry (not Latin-1)
        print(f"reflexctl send: cannot send this request: {exc}", file=sys.stderr)
        return 2
    print(status)
    print(body.decode("utf-8", errors="replace"))
    return 0 if 200 <= status < 300 else 1
