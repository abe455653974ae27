-- Per-series detector state, so a restart resumes where it stopped.
CREATE TABLE anomaly_series (
    source            text        NOT NULL,
    type              text        NOT NULL,
    last_window_start timestamptz NOT NULL,
    history           jsonb       NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, type)
);
CREATE TABLE anomalies (
    id           bigserial PRIMARY KEY,
    source       text        NOT NULL,
    type         text        NOT NULL,
    window_start timestamptz NOT NULL,
    window_s     integer     NOT NULL,
    kind         text        NOT NULL CHECK (kind IN ('spike', 'drop', 'silence')),
    observed     bigint      NOT NULL,
    expected     double precision NOT NULL,
    lower_bound  double precision NOT NULL,
    upper_bound  double precision NOT NULL,
    explanation  text        NOT NULL,
    detected_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, type, window_start, kind)
);
