-- Domain events, one row per webhook we answered 202 for.
CREATE TABLE events (
    event_id     uuid PRIMARY KEY,
    source       text        NOT NULL,
    kind         text        NOT NULL,
    type         text        NOT NULL,
    occurred_at  timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    delivery_key text,
    entity       text,
    payload      jsonb,
    stream_id    text        NOT NULL,
    inserted_at  timestamptz NOT NULL DEFAULT now()
);
-- The sender's natural key is the last word on duplicates, whatever the ingress dedup horizon.
CREATE UNIQUE INDEX events_source_delivery_key ON events (source, delivery_key) WHERE delivery_key IS NOT NULL;
CREATE INDEX events_source_received_at ON events (source, received_at);
