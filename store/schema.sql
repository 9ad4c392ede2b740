-- recdo result tables (DESIGN.md "Results in DuckDB"). Every table carries run_id so a
-- re-run replaces its own rows (store.db.replace_rows) instead of appending duplicates.

CREATE TABLE IF NOT EXISTS runs (
    run_id        VARCHAR PRIMARY KEY,
    flow_run_id   VARCHAR,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    status        VARCHAR,      -- running | completed | failed
    params        JSON,
    data_hash     VARCHAR,
    code_version  VARCHAR,
    source        VARCHAR,
    message       VARCHAR       -- why a run failed, or the loader's notes on what it dropped
);

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
    frequency    DOUBLE         -- share of bootstrap replicates whose structure held the edge
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
