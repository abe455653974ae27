"""Signing test webhooks as each provider does: the mirror of the ingress verifiers.

Asymmetric kinds (discord, standard v1a, sns) import `cryptography` when used, so the rest works
without it. Written from the providers' documentation, independently of `reflex_ingress` (which it must never
import): the tests check one against the other and both against the providers' own libraries.
`sign(kind, delivery)` returns the headers, the (possibly rewritten) body and the query parameters
to add to the URL; send it with `Signed.url_for(delivery.url)`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Delivery:
    """What to sign. `secret` is the source's secret as configured (for `discord` the hex Ed25519
    private key, for `standard` v1a a `whsk_` key, for `sns` a PEM RSA private key); `options` are
    kind-specific (see each signer)."""

    secret: str
    body: bytes
    timestamp_s: int
    url: str = ""
    event: str | None = None
    delivery_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Signed:
    headers: dict[str, str]
    body: bytes
    query: dict[str, str] = field(default_factory=dict)

    def url_for(self, url: str) -> str:
        return with_query(url, self.query)


def with_query(url: str, query: Mapping[str, str]) -> str:
    """url with `query` appended to its own query string (as the signers that sign URLs expect)."""
    if not query:
        return url
    parts = urlsplit(url)
    extra = urlencode(list(query.items()))
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


def _hmac(algorithm: str, key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, algorithm).digest()


def _json_headers(**extra: str) -> dict[str, str]:
    return {"Content-Type": JSON, **extra}


def _object(body: bytes) -> dict[str, Any]:
    value = json.loads(body) if body.strip() else {}
    if not isinstance(value, dict):
        raise ValueError("this kind needs a JSON object body")
    return value


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def _rfc3339(timestamp_s: int) -> str:
    moment = datetime.fromtimestamp(timestamp_s, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def github(d: Delivery) -> Signed:
    signature = _hmac("sha256", d.secret.encode(), d.body).hex()
    return Signed(
        _json_headers(
            **{
                "X-Hub-Signature-256": f"sha256={signature}",
                "X-GitHub-Event": d.event or "ping",
                "X-GitHub-Delivery": d.delivery_id,
            }
        ),
        d.body,
    )


def stripe(d: Delivery) -> Signed:
    signature = _hmac("sha256", d.secret.encode(), f"{d.timestamp_s}.".encode() + d.body).hex()
    return Signed(_json_headers(**{"Stripe-Signature": f"t={d.timestamp_s},v1={signature}"}), d.body)


def slack(d: Delivery) -> Signed:
    base = f"v0:{d.timestamp_s}:".encode() + d.body
    signature = _hmac("sha256", d.secret.encode(), base).hex()
    headers = {"X-Slack-Request-Timestamp": str(d.timestamp_s), "X-Slack-Signature": f"v0={signature}"}
    return Signed(_json_headers(**headers), d.body)


def shopify(d: Delivery) -> Signed:
    signature = base64.b64encode(_hmac("sha256", d.secret.encode(), d.body)).decode()
    return Signed(
        _json_headers(
            **{
                "X-Shopify-Hmac-Sha256": signature,
                "X-Shopify-Topic": d.event or "orders/create",
                "X-Shopify-Webhook-Id": d.delivery_id,
                "X-Shopify-Triggered-At": _rfc3339(d.timestamp_s),
            }
        ),
        d.body,
    )


def gitlab(d: Delivery) -> Signed:
    return Signed(
        _json_headers(
            **{
                "X-Gitlab-Token": d.secret,
                "X-Gitlab-Event": d.event or "Push Hook",
                "X-Gitlab-Event-UUID": d.delivery_id,
            }
        ),
        d.body,
    )


def _b64_loose(text: str) -> bytes | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def standard(d: Delivery) -> Signed:
    """Standard Webhooks. `whsec_<base64>` (or bare base64) signs v1 (HMAC-SHA256), `whsk_<base64
    Ed25519 private key>` signs v1a. Option `headers: svix` sends the svix-* header names."""
    content = f"{d.delivery_id}.{d.timestamp_s}.".encode() + d.body
    if d.secret.startswith("whsk_"):
        raw = _b64_loose(d.secret[len("whsk_") :])
        if raw is None or len(raw) not in (32, 64):
            raise ValueError("a whsk_ secret is a base64 Ed25519 private key")
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.from_private_bytes(raw[:32])
        signature = "v1a," + base64.b64encode(key.sign(content)).decode()
    else:
        text = d.secret.removeprefix("whsec_")
        secret = _b64_loose(text) or d.secret.encode()
        signature = "v1," + base64.b64encode(_hmac("sha256", secret, content)).decode()
    family = "svix" if d.options.get("headers") == "svix" else "webhook"
    return Signed(
        _json_headers(
            **{
                f"{family}-id": d.delivery_id,
                f"{family}-timestamp": str(d.timestamp_s),
                f"{family}-signature": signature,
            }
        ),
        d.body,
    )


def twilio(d: Delivery) -> Signed:
    """Twilio. Form (default): a JSON object body becomes the POST parameters; the signature is over
    the URL then each parameter name+value sorted by name. Option `json: true` keeps a JSON body and
    covers it with a `bodySHA256` query parameter instead. Needs `delivery.url`."""
    if not d.url:
        raise ValueError("twilio signs the URL: give the URL the request is sent to")
    token = d.secret.encode()
    if d.options.get("json", "").lower() in ("1", "true", "yes"):
        query = {"bodySHA256": hashlib.sha256(d.body).hexdigest()}
        url = with_query(d.url, query)
        signature = base64.b64encode(_hmac("sha1", token, url.encode())).decode()
        return Signed(_json_headers(**{"X-Twilio-Signature": signature}), d.body, query)
    try:
        params = [(str(k), str(v)) for k, v in _object(d.body).items()]
    except ValueError:
        params = parse_qsl(d.body.decode(), keep_blank_values=True)
    data = d.url + "".join(name + value for name, value in sorted(params))
    signature = base64.b64encode(_hmac("sha1", token, data.encode())).decode()
    headers = {
        "Content-Type": FORM,
        "X-Twilio-Signature": signature,
        "I-Twilio-Idempotency-Token": d.delivery_id,
    }
    return Signed(headers, urlencode(params).encode())


def linear(d: Delivery) -> Signed:
    """Linear signs the body, which carries the send time as `webhookTimestamp` (ms): it is set here."""
    payload = _object(d.body)
    payload["webhookTimestamp"] = d.timestamp_s * 1000
    body = _dumps(payload)
    return Signed(
        _json_headers(
            **{
                "Linear-Signature": _hmac("sha256", d.secret.encode(), body).hex(),
                "Linear-Delivery": d.delivery_id,
                "Linear-Event": d.event or "Issue",
            }
        ),
        body,
    )


def pagerduty(d: Delivery) -> Signed:
    signature = _hmac("sha256", d.secret.encode(), d.body).hex()
    return Signed(_json_headers(**{"X-PagerDuty-Signature": f"v1={signature}"}), d.body)


def twitch(d: Delivery) -> Signed:
    """Twitch EventSub; `event` is the message type (notification, webhook_callback_verification,
    revocation)."""
    timestamp = _rfc3339(d.timestamp_s)
    content = d.delivery_id.encode() + timestamp.encode() + d.body
    signature = _hmac("sha256", d.secret.encode(), content).hex()
    return Signed(
        _json_headers(
            **{
                "Twitch-Eventsub-Message-Id": d.delivery_id,
                "Twitch-Eventsub-Message-Timestamp": timestamp,
                "Twitch-Eventsub-Message-Type": d.event or "notification",
                "Twitch-Eventsub-Message-Signature": f"sha256={signature}",
            }
        ),
        d.body,
    )


def zoom(d: Delivery) -> Signed:
    base = f"v0:{d.timestamp_s}:".encode() + d.body
    return Signed(
        _json_headers(
            **{
                "x-zm-request-timestamp": str(d.timestamp_s),
                "x-zm-signature": "v0=" + _hmac("sha256", d.secret.encode(), base).hex(),
            }
        ),
        d.body,
    )


def discord(d: Delivery) -> Signed:
    """Discord interactions; the secret is the hex Ed25519 private key (32-byte seed)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(d.secret.strip())[:32])
    timestamp = str(d.timestamp_s)
    signature = key.sign(timestamp.encode() + d.body).hex()
    headers = {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": timestamp}
    return Signed(_json_headers(**headers), d.body)


def meta(d: Delivery) -> Signed:
    signature = _hmac("sha256", d.secret.encode(), d.body).hex()
    return Signed(_json_headers(**{"X-Hub-Signature-256": f"sha256={signature}"}), d.body)


def msgraph(d: Delivery) -> Signed:
    """Graph change notifications: each entry of `value` gets the secret as `clientState`; a body
    without `value` becomes the `resourceData` of one notification."""
    payload = _object(d.body)
    entries = payload.get("value")
    if not isinstance(entries, list):
        entries = [
            {
                "subscriptionId": d.delivery_id,
                "changeType": d.event or "updated",
                "resource": "reflexctl/test",
                "resourceData": payload,
            }
        ]
    stamped = [{**e, "clientState": d.secret} if isinstance(e, dict) else e for e in entries]
    payload = {**payload, "value": stamped}
    return Signed(_json_headers(), _dumps(payload))


_SNS_CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_SNS_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": _SNS_CONFIRMATION_FIELDS,
    "UnsubscribeConfirmation": _SNS_CONFIRMATION_FIELDS,
}


def sns(d: Delivery) -> Signed:
    """AWS SNS: the body becomes the `Message` of a signed envelope. The secret is a PEM RSA private
    key; options: `topic_arn` (required), `cert_url` (the https SNS URL the verifier gets the matching
    certificate for), `signature_version` (1 = SHA-1, 2 = SHA-256, default 2), `subject`. `event` is
    the message Type (Notification by default)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    key = serialization.load_pem_private_key(d.secret.encode(), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("sns signs with an RSA private key")
    kind = d.event or "Notification"
    if kind not in _SNS_FIELDS:
        raise ValueError(f"unknown SNS message type {kind!r}")
    topic = d.options.get("topic_arn")
    if not topic:
        raise ValueError("sns needs option topic_arn")
    region = topic.split(":")[3] if topic.count(":") >= 5 else "us-east-1"
    host = f"https://sns.{region}.amazonaws.com"
    version = d.options.get("signature_version", "2")
    message: dict[str, str] = {
        "Type": kind,
        "MessageId": d.delivery_id,
        "TopicArn": topic,
        "Message": d.body.decode(),
        "Timestamp": _rfc3339(d.timestamp_s),
        "SignatureVersion": version,
        "SigningCertURL": d.options.get(
            "cert_url", f"{host}/SimpleNotificationService-{hashlib.sha1(b'reflexctl').hexdigest()}.pem"
        ),
    }
    if d.options.get("subject"):
        message["Subject"] = d.options["subject"]
    if kind != "Notification":
        message["Token"] = d.delivery_id.replace("-", "") * 2
        message["SubscribeURL"] = f"{host}/?Action=ConfirmSubscription&TopicArn={topic}&Token={message['Token']}"
    text = "".join(f"{name}\n{message[name]}\n" for name in _SNS_FIELDS[kind] if name in message)
    algorithm: hashes.HashAlgorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    message["Signature"] = base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), algorithm)).decode()
    headers = {
        "Content-Type": "text/plain; charset=UTF-8",
        "x-amz-sns-message-type": kind,
        "x-amz-sns-message-id": d.delivery_id,
        "x-amz-sns-topic-arn": topic,
    }
    return Signed(headers, _dumps(message))


_TEMPLATE_FIELD = re.compile(r"\{(body|timestamp|delivery_key)\}")


def generic_hmac(d: Delivery) -> Signed:
    """The configurable `hmac` kind; options as in the source: header (required), algorithm,
    encoding, prefix, timestamp_header, signed_content, delivery_key_header."""
    o = d.options
    header = o.get("header")
    if not header:
        raise ValueError("hmac needs option header")
    headers = _json_headers()
    values = {
        "body": d.body,
        "timestamp": str(d.timestamp_s).encode(),
        "delivery_key": d.delivery_id.encode(),
    }
    if o.get("timestamp_header"):
        headers[o["timestamp_header"]] = str(d.timestamp_s)
    if o.get("delivery_key_header"):
        headers[o["delivery_key_header"]] = d.delivery_id
    template = o.get("signed_content") or ("{timestamp}.{body}" if o.get("timestamp_header") else "{body}")
    pieces = _TEMPLATE_FIELD.split(template)  # literal, field, literal, field, ...
    content = b"".join(values[p] if i % 2 else p.encode() for i, p in enumerate(pieces))
    digest = _hmac(o.get("algorithm", "sha256"), d.secret.encode(), content)
    encoded = base64.b64encode(digest).decode() if o.get("encoding") == "base64" else digest.hex()
    headers[header] = o.get("prefix", "") + encoded
    return Signed(headers, d.body)


def shared_token(d: Delivery) -> Signed:
    """The `token` kind: options header (default Authorization) and prefix (default `Bearer ` for
    Authorization, none otherwise)."""
    header = d.options.get("header", "Authorization")
    prefix = d.options.get("prefix", "Bearer " if header.lower() == "authorization" else "")
    return Signed(_json_headers(**{header: prefix + d.secret}), d.body)


def basic(d: Delivery) -> Signed:
    credentials = base64.b64encode(d.secret.encode()).decode()
    return Signed(_json_headers(Authorization=f"Basic {credentials}"), d.body)


def none(d: Delivery) -> Signed:
    return Signed(_json_headers(), d.body)


SIGNERS: dict[str, Callable[[Delivery], Signed]] = {
    "basic": basic,
    "discord": discord,
    "github": github,
    "gitlab": gitlab,
    "hmac": generic_hmac,
    "linear": linear,
    "meta": meta,
    "msgraph": msgraph,
    "none": none,
    "pagerduty": pagerduty,
    "shopify": shopify,
    "slack": slack,
    "sns": sns,
    "standard": standard,
    "stripe": stripe,
    "token": shared_token,
    "twilio": twilio,
    "twitch": twitch,
    "zoom": zoom,
}


def sign(kind: str, delivery: Delivery) -> Signed:
    """Sign `delivery` as a sender of `kind` would; ValueError for an unknown kind or bad input."""
    signer = SIGNERS.get(kind)
    if signer is None:
        raise ValueError(f"unknown kind {kind!r} (known: {', '.join(sorted(SIGNERS))})")
    return signer(delivery)
