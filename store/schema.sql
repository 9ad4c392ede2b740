-- recdo result tables (DESIGN.md "Results in DuckDB"). Every table carries run_id so a
-- re-run replaces its own rows (store.db.replace_rows) instead of appending duplicates.

CREATE TABLE IF NOT EXISTS runs (
    run_id        VARCHAR PRIMARY KEY,
    flow_run_id   VARCHAR,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    status        VARCHAR,      -- running | completed | failed | interrupted
    params        JSON,
    data_hash     VARCHAR,
    code_version  VARCHAR,
    source        VARCHAR,
    message       VARCHAR,      -- why a run failed, or the loader's notes on what it dropped
    rows_in          BIGINT,    -- rows the gate read; rows_in = rows_processed + rows_quarantined
    rows_processed   BIGINT,    -- rows that passed the gate (NULL until the gate has run)
    rows_quarantined BIGINT     -- rows the gate quarantined (SELECT * FROM quarantine WHERE run_id = ...)
);

-- Databases made before the gate's row counts were stored get them on their next write.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS rows_in BIGINT;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS rows_processed BIGINT;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS rows_quarantined BIGINT;
-- The process running the run (host:pid:start ticks), so the next run can tell a killed one from a live one.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS owner VARCHAR;

CREATE TABLE IF NOT EXISTS quarantine (
    run_id        VARCHAR,
    row_number    BIGINT,       -- 0-based position of the row in the loaded log
    rule          VARCHAR,      -- every rule the row broke, joined by "; "
    row_json      JSON,         -- the row verbatim
    created_at    TIMESTAMPTZ
);

CREATE TABLE IF NOT EXISTS validation_results (
    run_id           VARCHAR,
    expectation      VARCHAR,
    column_name      VARCHAR,
    success          BOOLEAN,
    observed_value   VARCHAR,
    unexpected_count BIGINT
);

CREATE TABLE IF NOT EXISTS scores (
    run_id    VARCHAR,
    event_id  VARCHAR,
    score     DOUBLE,           -- P(click) from the scorer
    split     VARCHAR           -- train | val
);

CREATE TABLE IF NOT EXISTS scorer_metrics (
    run_id    VARCHAR,
    backbone  VARCHAR,
    split     VARCHAR,          -- train | val | all
    metric    VARCHAR,
    value     DOUBLE
);

CREATE TABLE IF NOT EXISTS bn_edges (
    run_id       VARCHAR,
    source_node  VARCHAR,
    target_node  VARCHAR,
    frequency    DOUBLE,        -- share of bootstrap replicates whose relearned structure held the edge
    treatment    VARCHAR,       -- the (treatment, outcome) pair whose network this is
    outcome      VARCHAR
);

CREATE TABLE IF NOT EXISTS interventions (
    run_id           VARCHAR,
    source           VARCHAR,
    "partition"      VARCHAR,
    treatment        VARCHAR,
    treatment_value  VARCHAR,
    baseline_value   VARCHAR,
    outcome          VARCHAR,
    estimand         VARCHAR,   -- interventional_mean | ate
    method           VARCHAR,   -- bn_do | naive | ab_diff | ...
    estimate         DOUBLE,
    ci_low           DOUBLE,
    ci_high          DOUBLE,
    n_rows           BIGINT,
    adjustment_set   JSON,      -- JSON list of the variables adjusted for
    created_at       TIMESTAMPTZ,
    diagnostics      JSON       -- support, effective sample size, weights, verdicts: what to check the number by
);

-- Databases made before the diagnostics column existed get it on their next write.
ALTER TABLE interventions ADD COLUMN IF NOT EXISTS diagnostics JSON;
ALTER TABLE bn_edges ADD COLUMN IF NOT EXISTS treatment VARCHAR;
ALTER TABLE bn_edges ADD COLUMN IF NOT EXISTS outcome VARCHAR;
-- Why an estimate carries no number (not identifiable, no overlap); NULL when it has one.
ALTER TABLE interventions ADD COLUMN IF NOT EXISTS explanation VARCHAR;
-- "node=state" of a CATE row (estimand 'cate'); NULL for population estimands.
ALTER TABLE interventions ADD COLUMN IF NOT EXISTS segment VARCHAR;
-- Whether the edge is in the network learned on all rows (other rows: edges bootstrap replicates found).
ALTER TABLE bn_edges ADD COLUMN IF NOT EXISTS in_network BOOLEAN;

-- Operations (issue 6): files `recdo watch` / `recdo ingest` announced, one row per (content, partition),
-- so the same bytes never start a second run. data_hash is the id the run of that file carries (runs.data_hash).
CREATE TABLE IF NOT EXISTS ingested_files (
    sha256       VARCHAR,       -- of the file's bytes alone: a renamed copy is the same content
    "partition"  VARCHAR,
    path         VARCHAR,
    data_hash    VARCHAR,
    size_bytes   BIGINT,
    n_rows       BIGINT,
    event_id     VARCHAR,       -- the recdo.data.arrived event emitted for it
    emitted_at   TIMESTAMPTZ,
    PRIMARY KEY (sha256, "partition")
);
