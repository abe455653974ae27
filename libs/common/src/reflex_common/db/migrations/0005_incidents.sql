-- Alert lifecycle (anomaly-detector): one incident per anomaly episode of a series and kind, at most
-- one open per (source, type, kind). Times are window starts (series time); `anomalies` keeps the
-- per-window verdicts as before.
CREATE TABLE incidents (
    id                bigserial PRIMARY KEY,
    source            text        NOT NULL,
    type              text        NOT NULL,
    kind              text        NOT NULL CHECK (kind IN ('spike', 'drop', 'silence')),
    window_s          integer     NOT NULL,
    opened_at         timestamptz NOT NULL,  -- start of the first anomalous window
    last_anomalous_at timestamptz NOT NULL,  -- start of the latest anomalous window
    last_window_at    timestamptz NOT NULL,  -- start of the latest window seen while open
    anomalous_windows integer     NOT NULL,
    in_band_windows   integer     NOT NULL,  -- since the latest anomalous window
    -- the worst window: its value, band and explanation
    observed          double precision NOT NULL,
    expected          double precision NOT NULL,
    lower_bound       double precision NOT NULL,
    upper_bound       double precision NOT NULL,
    explanation       text        NOT NULL,
    resolved_at       timestamptz,           -- end of the window that resolved it
    resolution        text CHECK (resolution IN ('recovered', 'retracted')),
    detected_at       timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, type, kind, opened_at),
    CHECK ((resolved_at IS NULL) = (resolution IS NULL))
);
CREATE UNIQUE INDEX incidents_one_open ON incidents (source, type, kind) WHERE resolved_at IS NULL;
CREATE INDEX incidents_opened ON incidents (opened_at DESC);

-- What Alertmanager must be told, written in the transaction that changed the incident and
-- delivered by the detector's sender: a firing incident is re-sent every resend interval, a resolved
-- one once, then its row goes. `version` changes with every write of the detector, so a delivery
-- of an older version never settles a newer one.
CREATE TABLE alert_outbox (
    incident_id  bigint      PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    version      bigint      NOT NULL DEFAULT 1,
    due_at       timestamptz NOT NULL DEFAULT now(),
    attempts     integer     NOT NULL DEFAULT 0,
    last_error   text,
    last_sent_at timestamptz
);
CREATE INDEX alert_outbox_due ON alert_outbox (due_at);
