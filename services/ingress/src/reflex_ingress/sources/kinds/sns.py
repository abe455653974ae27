"""AWS SNS (HTTP/S subscriptions): the JSON body carries its own RSA signature.

`Signature` is a base64 RSA PKCS#1 v1.5 signature (`SignatureVersion` 1: SHA-1, 2: SHA-256) of
the canonical string `Name\\nValue\\n` over the type's fields, made with the key of the X.509
certificate at `SigningCertURL`, which must be https on `sns.<region>.amazonaws.com`. Certificates
come from a fetcher (option `certificates` maps URLs to PEM refs, `fetch_certificates: true`
fetches over https, or a callable is injected), cached by URL.

SNS authenticates AWS, not the publisher: any AWS account can send a signed message here, so the
source must list the topics it accepts (option `topic_arns`, required; others are 403). SNS has no
shared secret, so this kind takes none and reports no secret index. `Timestamp` (publish time) is
checked against the replay window, which must cover SNS's retries (at most an hour).

`SubscriptionConfirmation` and `UnsubscribeConfirmation` are answered 200 and never queued; the
subscription is confirmed (GET `SubscribeURL`, checked like the certificate URL) only with option
`auto_confirm: true`. The dedup key is `MessageId`. Raw message delivery carries no signature and
is therefore rejected.
"""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from threading import Lock
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from reflex_common.errors import ConfigError, TransientError
from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.options import Options, dedup_horizon_s, replay_window_s
from reflex_ingress.sources.request import Rejected, Reply, Verified, WebhookRequest
from reflex_ingress.sources.secrets import Secret, SecretRing
from reflex_ingress.sources.verifier import check_age, json_object, parse_base64, require_method

# SNS's HTTP delivery policies retry for at most 3600 s after publishing; plus clock skew.
REPLAY_WINDOW_S = 3600 + 300
DEDUP_HORIZON_S = 24 * 3600
MAX_CERTIFICATE_BYTES = 64 * 1024
MAX_CACHED_CERTIFICATES = 32
# sns.<region>.amazonaws.com[.cn] with a real region shape (us-east-1, us-gov-west-1, cn-north-1,
# ...): a bare one-label wildcard would also match S3 bucket hosts such as sns.s3.amazonaws.com.
SNS_HOST = re.compile(r"sns\.[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d\.amazonaws\.com(\.cn)?")
# SNS signing certificates live at /SimpleNotificationService-<hex>.pem.
SNS_CERT_PATH = re.compile(r"/SimpleNotificationService-[0-9a-f]+\.pem")
NOTIFICATION = "Notification"
SUBSCRIBE = "SubscriptionConfirmation"
UNSUBSCRIBE = "UnsubscribeConfirmation"
SIGNED_FIELDS: Mapping[str, tuple[str, ...]] = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIBE: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
    UNSUBSCRIBE: ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"),
}
OPTIONAL_FIELDS = frozenset({"Subject"})
HASHES: Mapping[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

# URL -> PEM bytes. Raise LookupError for a certificate that will never be known (401),
# CertificateUnavailable when fetching failed and SNS should retry later (503).
CertificateFetcher = Callable[[str], bytes]
# Confirms a subscription by GETting its SubscribeURL; must not block the caller for long.
Confirmer = Callable[[str], None]


class CertificateUnavailable(TransientError):
    """The signing certificate could not be fetched now: the ingress answers 503 + Retry-After, so
    that SNS retries."""


def is_sns_url(url: str) -> bool:
    """Whether url is https on an SNS endpoint host (no user info, default port, no whitespace or
    control characters, which urlsplit would silently drop)."""
    if not url.isascii() or not url.isprintable() or " " in url:
        return False
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and "@" not in parts.netloc
        and port in (None, 443)
        and bool(parts.hostname and SNS_HOST.fullmatch(parts.hostname))
    )


def canonical(message: Mapping[str, object], kind: str) -> bytes:
    """The string SNS signs for a message of type `kind`; raise Rejected(400) when a field is missing."""
    lines: list[str] = []
    for name in SIGNED_FIELDS[kind]:
        value = message.get(name)
        if value is None and name in OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise Rejected(400, f"SNS message without a string {name}")
        lines.append(f"{name}\n{value}\n")
    return "".join(lines).encode()


def _publish_time(message: Mapping[str, object]) -> float:
    value = message.get("Timestamp")
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise Rejected(401, "SNS message without a valid Timestamp")
    return parsed.timestamp()


@dataclass(frozen=True)
class StaticCertificates:
    """Certificates known in advance: URL -> PEM (a literal, `env:VAR` or `file:PATH` ref)."""

    by_url: Mapping[str, Secret]

    def __call__(self, url: str) -> bytes:
        secret = self.by_url.get(url)
        if secret is None:
            raise LookupError("unknown signing certificate URL")
        return secret.value


@dataclass
class HttpsCertificateFetcher:
    """Fetches a certificate over https. Blocking (the ingress calls it in a worker thread): runs once
    per new certificate URL (SNS rotates its certificate rarely, and verified keys are cached),
    bounded by `timeout_s`. Unauthenticated requests choose the URL, so at most `max_fetches` run at
    once (others are answered 503 at once), and a URL whose fetch failed is not fetched again for
    `failure_ttl_s` (answered 503 at once)."""

    timeout_s: float = 3.0
    max_fetches: int = 2
    failure_ttl_s: float = 30.0
    _failed_at: dict[str, float] = field(default_factory=dict, repr=False)
    _running: int = 0
    _lock: Lock = field(default_factory=Lock, repr=False)

    def __call__(self, url: str) -> bytes:
        with self._lock:
            now = time.monotonic()
            failed_at = self._failed_at.get(url)
            if failed_at is not None and now - failed_at < self.failure_ttl_s:
                raise CertificateUnavailable("the signing certificate failed to fetch moments ago")
            if self._running >= self.max_fetches:
                raise CertificateUnavailable("too many certificate fetches at once")
            self._running += 1
        try:
            return self._fetch(url)
        except CertificateUnavailable:
            with self._lock:
                if len(self._failed_at) >= MAX_CACHED_CERTIFICATES:
                    self._failed_at.clear()
                self._failed_at[url] = time.monotonic()
            raise
        finally:
            with self._lock:
                self._running -= 1

    def _fetch(self, url: str) -> bytes:
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                return bytes(response.read(MAX_CERTIFICATE_BYTES))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise CertificateUnavailable(f"cannot fetch the signing certificate: {exc}") from exc


@dataclass
class ThreadedConfirmer:
    """Confirms subscriptions off the event loop: one worker thread, at most `max_pending` waiting."""

    timeout_s: float = 5.0
    max_pending: int = 8
    _executor: ThreadPoolExecutor | None = None
    _pending: set[Future[None]] = field(default_factory=set)
    _lock: Lock = field(default_factory=Lock)

    def __call__(self, url: str) -> None:
        with self._lock:
            self._pending = {f for f in self._pending if not f.done()}
            if len(self._pending) >= self.max_pending:
                return  # SNS resends the confirmation; the next one will be taken
            if self._executor is None:
                self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sns-confirm")
            self._pending.add(self._executor.submit(self._get, url))

    def _get(self, url: str) -> None:
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as response:
                response.read(MAX_CERTIFICATE_BYTES)
        except (urllib.error.URLError, OSError):
            pass  # unconfirmed: SNS resends the confirmation request


@dataclass(frozen=True)
class SnsVerifier:
    topic_arns: frozenset[str]
    fetch_certificate: CertificateFetcher
    # Called with the SubscribeURL of a verified confirmation request; None leaves it unconfirmed.
    confirm: Confirmer | None = None
    replay_window_s: int = REPLAY_WINDOW_S
    sends_json: bool = True
    dedup_horizon_s: int = DEDUP_HORIZON_S
    # True when verifying may fetch a certificate over the network (see may_block).
    fetches: bool = False
    _keys: dict[str, tuple[RSAPublicKey, x509.Certificate]] = field(default_factory=dict, compare=False, repr=False)

    def may_block(self, request: WebhookRequest) -> bool:
        """Only a request naming a certificate not yet cached may fetch one (a cached URL appears in
        the body as it is; a miss here only costs a worker thread)."""
        return self.fetches and not any(url.encode() in request.body for url in list(self._keys))

    def verify(self, request: WebhookRequest, now: datetime) -> Verified:
        require_method(request, "POST")
        message = json_object(request)
        kind = message.get("Type")
        if not isinstance(kind, str) or kind not in SIGNED_FIELDS:
            raise Rejected(400, "not an SNS message (unknown Type)")
        header_kind = request.header("x-amz-sns-message-type")
        if header_kind is not None and header_kind.strip() != kind:
            raise Rejected(400, "x-amz-sns-message-type does not match the message Type")
        topic = message.get("TopicArn")
        if not isinstance(topic, str) or topic not in self.topic_arns:
            raise Rejected(403, "SNS topic not accepted by this source")
        algorithm = HASHES.get(str(message.get("SignatureVersion", "")))
        if algorithm is None:
            raise Rejected(401, "SNS message without a supported SignatureVersion")
        signature_b64 = message.get("Signature")
        cert_url = message.get("SigningCertURL")
        if not isinstance(signature_b64, str) or not signature_b64:
            raise Rejected(401, "SNS message without a Signature")
        if (
            not isinstance(cert_url, str)
            or not is_sns_url(cert_url)
            or not SNS_CERT_PATH.fullmatch(urlsplit(cert_url).path)
        ):
            raise Rejected(401, "SigningCertURL is not an https SNS endpoint")
        signature = parse_base64(signature_b64, "Signature")
        content = canonical(message, kind)
        key = self._public_key(cert_url, now)
        try:
            key.verify(signature, content, padding.PKCS1v15(), algorithm())
        except InvalidSignature as exc:
            raise Rejected(401, "signature does not match") from exc
        check_age(_publish_time(message), now, self.replay_window_s)
        if kind == SUBSCRIBE:
            subscribe_url = message["SubscribeURL"]
            if not is_sns_url(subscribe_url):
                raise Rejected(400, "SubscribeURL is not an https SNS endpoint")
            if self.confirm is not None:
                self.confirm(subscribe_url)
            return Verified(reply=Reply(200, b"subscription confirmation received", "text/plain"))
        if kind == UNSUBSCRIBE:
            return Verified(reply=Reply(200, b"unsubscribe confirmation received", "text/plain"))
        return Verified(delivery_key=str(message["MessageId"]))

    def _public_key(self, url: str, now: datetime) -> RSAPublicKey:
        cached = self._keys.get(url)
        if cached is None:
            try:
                pem = self.fetch_certificate(url)  # CertificateUnavailable: 503, SNS retries
            except LookupError as exc:
                raise Rejected(401, "unknown signing certificate") from exc
            try:
                certificate = x509.load_pem_x509_certificate(pem)
            except ValueError as exc:
                raise Rejected(401, "signing certificate is not a PEM X.509 certificate") from exc
            key = certificate.public_key()
            if not isinstance(key, RSAPublicKey):
                raise Rejected(401, "signing certificate has no RSA key")
            if len(self._keys) >= MAX_CACHED_CERTIFICATES:
                self._keys.clear()
            cached = self._keys[url] = (key, certificate)
        key, certificate = cached
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise Rejected(401, "signing certificate is not valid now")
        return key


def build(
    config: SourceConfig,
    ring: SecretRing,
    *,
    fetch_certificate: CertificateFetcher | None = None,
    confirm: Confirmer | None = None,
) -> SnsVerifier:
    """Build from options; `fetch_certificate` / `confirm` replace the option-made ones (tests, or a
    composition root with its own HTTP client). `confirm` is used only with `auto_confirm: true`."""
    options = Options.of(config, ("topic_arns", "certificates", "fetch_certificates", "auto_confirm"))
    if len(ring):
        raise ValueError("sns takes no secrets (AWS signs with its certificates); list topic_arns")
    topic_arns = options.texts("topic_arns")
    if not topic_arns:
        raise ValueError("option topic_arns is required: the SNS topics this source accepts")
    if fetch_certificate is None:
        certificates = options.mapping("certificates")
        if certificates:
            if not all(is_sns_url(url) for url in certificates):
                raise ValueError("option certificates: URLs must be https on sns.<region>.amazonaws.com")
            try:
                refs = {
                    url: Secret.resolve(i, ref, None, config.name) for i, (url, ref) in enumerate(certificates.items())
                }
            except ConfigError as exc:
                raise ValueError(f"option certificates cannot be resolved ({exc})") from exc
            fetch_certificate = StaticCertificates(refs)
        elif options.flag("fetch_certificates"):
            fetch_certificate = HttpsCertificateFetcher()
        else:
            raise ValueError("set option certificates (URL -> PEM) or fetch_certificates: true")
    auto_confirm = options.flag("auto_confirm")
    return SnsVerifier(
        topic_arns=frozenset(topic_arns),
        fetch_certificate=fetch_certificate,
        confirm=(confirm or ThreadedConfirmer()) if auto_confirm else None,
        replay_window_s=replay_window_s(config, REPLAY_WINDOW_S),
        dedup_horizon_s=dedup_horizon_s(config, DEDUP_HORIZON_S),
        fetches=isinstance(fetch_certificate, HttpsCertificateFetcher),
    )
