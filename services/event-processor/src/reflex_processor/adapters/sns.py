"""Amazon SNS over HTTP(S): a JSON envelope (sent as text/plain) with `Type` ("Notification",
"SubscriptionConfirmation"), the `TopicArn`, an optional `Subject`, `Timestamp` and `MessageId`.
The type is "<Type>.<topic name>[.<Subject>]"; with raw message delivery the body is the bare message,
and the `x-amz-sns-*` headers say what the envelope would have."""

from __future__ import annotations

from reflex_common.schemas import RawEvent
from reflex_processor.adapters.base import (
    Normalized,
    as_received,
    dig,
    dotted,
    from_iso,
    natural_key,
    parse_body,
    ref,
    text,
)


def normalize(raw: RawEvent) -> Normalized:
    body = parse_body(raw)
    message_type = text(dig(body, "Type")) or raw.headers.get("x-amz-sns-message-type")
    topic_arn = text(dig(body, "TopicArn")) or text(raw.headers.get("x-amz-sns-topic-arn"))
    topic = topic_arn.rpartition(":")[2] if topic_arn is not None else None
    return Normalized(
        type=dotted(message_type, topic, dig(body, "Subject")),
        occurred_at=from_iso(dig(body, "Timestamp")),
        delivery_key=natural_key(dig(body, "MessageId")),
        entity=ref("topic", topic_arn),
        payload=body,
        payload_json=as_received(raw, body),
    )
