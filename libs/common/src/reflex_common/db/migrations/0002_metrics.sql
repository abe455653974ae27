-- Exact per-window counts. An event id is counted once: metric_counted remembers it.
CREATE TABLE metric_counted (
    event_id   uuid PRIMARY KEY,
    counted_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE metric_counts (
    source          text        NOT NULL,
    type            text        NOT NULL,
    window_start    timestamptz NOT NULL,
    count           bigint      NOT NULL,
    -- what the windows stream was last told for this window, and as which revision
    emitted_count   bigint,
    emitted_revision integer    NOT NULL DEFAULT -1,
    PRIMARY KEY (source, type, window_start)
);
-- Every series ever seen, and the end of the last window closed for it.
CREATE TABLE metric_series (
    source         text        NOT NULL,
    type           text        NOT NULL,
    closed_through timestamptz NOT NULL,
    -- start of the newest window any event of the series fell in (the event-time watermark)
    last_event_window timestamptz NOT NULL,
    PRIMARY KEY (source, type)
);
-- Windows not yet closed, or whose count changed after they were emitted (a revision is due).
CREATE INDEX metric_counts_unsettled ON metric_counts (window_start)
    WHERE emitted_count IS NULL OR count <> emitted_count;
