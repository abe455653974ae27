"""AWS SNS with a self-made certificate and key (no network): signature versions 1 and 2, the
certificate URL rules, the topic allow-list, subscription confirmation only when asked."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from reflex_common.errors import ConfigError, TransientError
from reflex_ingress.sources.config import SourceConfig
from reflex_ingress.sources.kinds import sns
from reflex_ingress.sources.request import Rejected
from reflex_ingress.sources.secrets import SecretRing

TOPIC = "arn:aws:sns:us-west-2:123456789012:reflex-test"
CERT_URL = "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
NOW = datetime(2024, 6, 1, 12, 0, 0, tzinfo=UTC)


def certificate(key, not_before: datetime, not_after: datetime) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


CERT = certificate(KEY, NOW - timedelta(days=30), NOW + timedelta(days=30))


class Certificates:
    """A fake fetcher: known URLs answer their PEM; counts the fetches."""

    def __init__(self, by_url: dict[str, bytes]) -> None:
        self.by_url = by_url
        self.fetches = 0

    def __call__(self, url: str) -> bytes:
        self.fetches += 1
        if url not in self.by_url:
            raise LookupError(url)
        return self.by_url[url]


def message(
    kind: str = "Notification", version: str = "2", *, key=KEY, when: datetime = NOW, **fields: str | None
) -> dict[str, str | None]:
    msg: dict[str, str | None] = {
        "Type": kind,
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": TOPIC,
        "Subject": "My First Message",
        "Message": "Hello world!\nwith a newline",
        "Timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "SignatureVersion": version,
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.us-west-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=x",
    }
    if kind != "Notification":
        del msg["Subject"]
        msg["Token"] = "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a7"
        msg["SubscribeURL"] = f"https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}"
    msg.update(fields)
    names = sns.SIGNED_FIELDS[kind]
    text = "".join(f"{n}\n{msg[n]}\n" for n in names if msg.get(n) is not None)
    algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
    msg["Signature"] = base64.b64encode(key.sign(text.encode(), padding.PKCS1v15(), algorithm)).decode()
    return msg


def verifier(certs=None, *, confirm=None, **options):
    config = SourceConfig(name="sns", kind="sns", options={"topic_arns": [TOPIC], **options})
    return sns.build(config, SecretRing([]), fetch_certificate=certs or Certificates({CERT_URL: CERT}), confirm=confirm)


def post(make_request, msg: dict[str, str | None], **headers: str):
    return make_request(json.dumps(msg).encode(), headers, content_type="text/plain")


@pytest.mark.parametrize("version", ["1", "2"])
def test_notification_verifies_and_is_keyed_by_message_id(make_request, version):
    request = post(make_request, message(version=version), **{"x-amz-sns-message-type": "Notification"})
    verified = verifier().verify(request, NOW)
    assert (verified.delivery_key, verified.reply, verified.secret_index) == (
        "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        None,
        None,
    )


def test_notification_without_subject(make_request):
    assert verifier().verify(post(make_request, message(Subject=None)), NOW).delivery_key


def test_certificates_are_cached_by_url(make_request):
    certs = Certificates({CERT_URL: CERT})
    v = verifier(certs)
    v.verify(post(make_request, message()), NOW)
    v.verify(post(make_request, message(MessageId="m2")), NOW)
    assert certs.fetches == 1


@pytest.mark.parametrize(
    "fields",
    [
        {"Message": "Hello world!"},
        {"MessageId": "other"},
        {"Subject": "Other"},
        {"Timestamp": "2024-06-01T12:00:01.000Z"},
        {"Signature": base64.b64encode(b"\0" * 256).decode()},
        {"SignatureVersion": "2"},  # signed as v1, claims v2
    ],
)
def test_tampered_messages_are_401(make_request, fields):
    msg = message(version="1")
    msg.update(fields)
    with pytest.raises(Rejected) as caught:
        verifier().verify(post(make_request, msg), NOW)
    assert caught.value.status == 401


def test_a_key_other_than_the_certificates_is_401(make_request):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with pytest.raises(Rejected, match="does not match"):
        verifier().verify(post(make_request, message(key=other)), NOW)


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-west-2.amazonaws.com/cert.pem",
        "https://sns.us-west-2.amazonaws.com.evil.example/cert.pem",
        "https://evil.example/sns.us-west-2.amazonaws.com/cert.pem",
        "https://user@sns.us-west-2.amazonaws.com/cert.pem",
        "https://sns.us-west-2.amazonaws.com:8443/cert.pem",
        "https://sqs.us-west-2.amazonaws.com/cert.pem",
        "https://s3.amazonaws.com/sns/cert.pem",
    ],
)
def test_certificate_url_must_be_https_on_an_sns_host(make_request, url):
    certs = Certificates({url: CERT})
    with pytest.raises(Rejected) as caught:
        verifier(certs).verify(post(make_request, message(SigningCertURL=url)), NOW)
    assert caught.value.status == 401
    assert certs.fetches == 0


def test_china_region_host_is_accepted(make_request):
    url = "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-1.pem"
    assert verifier(Certificates({url: CERT})).verify(post(make_request, message(SigningCertURL=url)), NOW)


def test_unknown_topic_is_403_before_any_fetch(make_request):
    certs = Certificates({CERT_URL: CERT})
    with pytest.raises(Rejected) as caught:
        verifier(certs).verify(post(make_request, message(TopicArn=TOPIC + "-other")), NOW)
    assert caught.value.status == 403
    assert certs.fetches == 0


@pytest.mark.parametrize(
    ("fetcher", "status"),
    [(Certificates({}), 401), (Certificates({CERT_URL: b"not a pem"}), 401)],
)
def test_unknown_or_broken_certificate_is_401(make_request, fetcher, status):
    with pytest.raises(Rejected) as caught:
        verifier(fetcher).verify(post(make_request, message()), NOW)
    assert caught.value.status == status


def test_unavailable_certificate_is_transient_so_sns_retries(make_request):
    # A TransientError: the ingress answers it 503 + Retry-After (tests/integration/test_hostile.py).
    def down(url: str) -> bytes:
        raise sns.CertificateUnavailable("timeout")

    with pytest.raises(TransientError):
        verifier(down).verify(post(make_request, message()), NOW)


def test_expired_certificate_or_non_rsa_key_is_401(make_request):
    expired = certificate(KEY, NOW - timedelta(days=60), NOW - timedelta(days=1))
    with pytest.raises(Rejected, match="not valid now"):
        verifier(Certificates({CERT_URL: expired})).verify(post(make_request, message()), NOW)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(Rejected, match="RSA"):
        verifier(
            Certificates({CERT_URL: certificate(ec_key, NOW - timedelta(days=1), NOW + timedelta(days=1))})
        ).verify(post(make_request, message()), NOW)


def test_stale_message_is_401(make_request):
    msg = message(when=NOW - timedelta(seconds=sns.REPLAY_WINDOW_S + 1))
    with pytest.raises(Rejected, match="replay window"):
        verifier().verify(post(make_request, msg), NOW)


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"not json", {}),
        (json.dumps({"Type": "Other"}).encode(), {}),
        (json.dumps(message()).encode(), {"x-amz-sns-message-type": "SubscriptionConfirmation"}),
    ],
)
def test_malformed_messages_are_400(make_request, body, headers):
    with pytest.raises(Rejected) as caught:
        verifier().verify(make_request(body, headers), NOW)
    assert caught.value.status == 400


def test_missing_message_field_is_400(make_request):
    msg = message()
    del msg["MessageId"]
    with pytest.raises(Rejected) as caught:
        verifier().verify(post(make_request, msg), NOW)
    assert caught.value.status == 400


@pytest.mark.parametrize("drop", ["Signature", "SigningCertURL", "SignatureVersion"])
def test_missing_signature_material_is_401(make_request, drop):
    msg = message()
    del msg[drop]
    with pytest.raises(Rejected) as caught:
        verifier().verify(post(make_request, msg), NOW)
    assert caught.value.status == 401


def test_subscription_confirmation_is_answered_and_not_confirmed_by_default(make_request):
    confirmed: list[str] = []
    verified = verifier(confirm=confirmed.append).verify(post(make_request, message("SubscriptionConfirmation")), NOW)
    assert verified.reply is not None and verified.reply.status == 200
    assert confirmed == []


def test_subscription_is_confirmed_only_with_auto_confirm(make_request):
    confirmed: list[str] = []
    msg = message("SubscriptionConfirmation")
    verified = verifier(confirm=confirmed.append, auto_confirm=True).verify(post(make_request, msg), NOW)
    assert verified.reply is not None and verified.reply.status == 200
    assert confirmed == [msg["SubscribeURL"]]


def test_confirmation_with_a_foreign_subscribe_url_is_refused(make_request):
    confirmed: list[str] = []
    msg = message("SubscriptionConfirmation", SubscribeURL="https://evil.example/?Action=ConfirmSubscription")
    with pytest.raises(Rejected) as caught:
        verifier(confirm=confirmed.append, auto_confirm=True).verify(post(make_request, msg), NOW)
    assert caught.value.status == 400
    assert confirmed == []


def test_unsubscribe_confirmation_is_answered_without_queueing(make_request):
    verified = verifier().verify(post(make_request, message("UnsubscribeConfirmation")), NOW)
    assert verified.reply is not None and verified.reply.status == 200


def test_static_certificates_option(make_verifier, make_request, tmp_path):
    (tmp_path / "sns.pem").write_bytes(CERT)
    options = {"topic_arns": [TOPIC], "certificates": {CERT_URL: f"file:{tmp_path / 'sns.pem'}"}}
    v = make_verifier("sns", options=options)
    assert v.verify(post(make_request, message()), NOW).delivery_key


@pytest.mark.parametrize(
    ("secrets", "options"),
    [
        ((), {"fetch_certificates": True}),
        ((), {"topic_arns": [], "fetch_certificates": True}),
        ((), {"topic_arns": [TOPIC]}),
        (("s",), {"topic_arns": [TOPIC], "fetch_certificates": True}),
        ((), {"topic_arns": [TOPIC], "certificates": {"https://evil.example/c.pem": "x"}}),
        ((), {"topic_arns": [TOPIC], "fetch_certificates": "yes"}),
    ],
)
def test_bad_configuration_is_a_config_error(make_verifier, secrets, options):
    with pytest.raises(ConfigError):
        make_verifier("sns", *secrets, options=options)


def test_fetching_and_confirming_adapters_are_built_from_options(make_verifier):
    v = make_verifier("sns", options={"topic_arns": [TOPIC], "fetch_certificates": True, "auto_confirm": True})
    assert isinstance(v, sns.SnsVerifier)
    assert isinstance(v.fetch_certificate, sns.HttpsCertificateFetcher)
    assert isinstance(v.confirm, sns.ThreadedConfirmer)


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.s3.amazonaws.com/SimpleNotificationService-0a.pem",  # an S3 bucket named "sns"
        "https://sns.s3-us-west-2.amazonaws.com/SimpleNotificationService-0a.pem",
        "https://sns.s3-external-1.amazonaws.com/SimpleNotificationService-0a.pem",
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-0a.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-0a.pem",
    ],
)
def test_certificate_urls_off_sns_endpoints_are_refused(url: str) -> None:
    from reflex_ingress.sources.kinds.sns import is_sns_url

    assert not is_sns_url(url)


def test_real_sns_endpoints_are_accepted() -> None:
    from reflex_ingress.sources.kinds.sns import is_sns_url

    for host in ("sns.us-east-1.amazonaws.com", "sns.us-gov-west-1.amazonaws.com", "sns.cn-north-1.amazonaws.com.cn"):
        assert is_sns_url(f"https://{host}/SimpleNotificationService-0a.pem")


@pytest.fixture
def silent_host():
    """A TCP port that takes connections and never answers (a certificate host that hangs)."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


def test_a_failed_certificate_fetch_is_remembered_and_not_tried_again_at_once(silent_host):
    fetcher = sns.HttpsCertificateFetcher(timeout_s=0.2)
    with pytest.raises(sns.CertificateUnavailable, match="cannot fetch"):
        fetcher(f"{silent_host}/a.pem")
    with pytest.raises(sns.CertificateUnavailable, match="moments ago"):
        fetcher(f"{silent_host}/a.pem")  # answered at once: no second fetch of a failing URL


def test_certificate_fetches_at_once_are_bounded(silent_host):
    import threading
    import time

    fetcher = sns.HttpsCertificateFetcher(timeout_s=5.0, max_fetches=2)
    failures: list[BaseException] = []

    def fetch(url: str) -> None:
        try:
            fetcher(url)
        except sns.CertificateUnavailable as exc:
            failures.append(exc)

    hung = [threading.Thread(target=fetch, args=(f"{silent_host}{path}",)) for path in ("/b", "/c")]
    for t in hung:
        t.start()
    deadline = time.monotonic() + 5
    while fetcher._running < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fetcher._running == 2
    with pytest.raises(sns.CertificateUnavailable, match="too many"):
        fetcher(f"{silent_host}/d.pem")  # refused at once while two fetches hang
    for t in hung:
        t.join()
    assert len(failures) == 2  # the hung fetches time out: 503, SNS retries


def test_a_request_naming_a_cached_certificate_is_verified_on_the_event_loop(make_request):
    v = sns.SnsVerifier(topic_arns=frozenset({TOPIC}), fetch_certificate=Certificates({CERT_URL: CERT}), fetches=True)
    request = post(make_request, message())
    assert v.may_block(request)  # not cached yet: may fetch, so a worker thread
    v.verify(request, NOW)
    assert not v.may_block(request)
