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

-- Decisions (issue 15): every bootstrap replicate of every pair's interventional means, so `recdo decide` computes
-- P(best) and expected loss from stored results. Segment 'all' is the population; others are the CATE segments.
CREATE TABLE IF NOT EXISTS replicates (
    run_id         VARCHAR,
    treatment      VARCHAR,
    outcome        VARCHAR,
    baseline       VARCHAR,     -- the pair's baseline value (lift is against it)
    segment        VARCHAR,     -- 'all' or the CATE segment node
    segment_value  VARCHAR,     -- 'all' or the node's state
    n_rows         BIGINT,      -- log rows in the segment value (its weight in a segment policy's value)
    replicate      INTEGER,
    value          VARCHAR,     -- the treatment value
    mean           DOUBLE       -- P(outcome=1 | do(value)[, segment]) in the replicate; NULL where withheld
);

-- The segment policy (best value per segment) of each pair, valued by the network's replicates (bn_do) and
-- doubly robust on the logged rows (dr) during the run, where the log is at hand.
CREATE TABLE IF NOT EXISTS policy_values (
    run_id       VARCHAR,
    treatment    VARCHAR,
    outcome      VARCHAR,
    segment      VARCHAR,
    method       VARCHAR,       -- bn_do | dr
    policy       JSON,          -- {segment value: treatment value}
    estimate     DOUBLE,
    ci_low       DOUBLE,
    ci_high      DOUBLE,
    n_rows       BIGINT,
    explanation  VARCHAR        -- why there is no number
);

-- Always-valid monitoring (issue 15): per ab_diff contrast, the confidence sequence over the experiment's partitions
-- up to this run's, beside the fixed-horizon interval at each look (store/sequential.py writes it).
CREATE TABLE IF NOT EXISTS sequential_looks (
    run_id               VARCHAR,     -- the run whose monitor this is (its partition is the last look)
    treatment            VARCHAR,
    treatment_value      VARCHAR,
    baseline_value       VARCHAR,
    outcome              VARCHAR,
    method               VARCHAR,     -- normal_mixture_cs
    alpha                DOUBLE,      -- the CS holds at every look at once with probability >= 1 - alpha
    look                 INTEGER,     -- 1-based, in partition order
    "partition"          VARCHAR,     -- the partition this look ends with ('all' for a run over the whole log)
    look_run_id          VARCHAR,     -- the run whose ab_diff row gave this partition's counts
    n_treatment          BIGINT,      -- rows in the treatment arm up to this look
    n_control            BIGINT,
    n_rows               BIGINT,
    estimate             DOUBLE,      -- pooled mean(treatment) - mean(control) up to this look
    cs_low               DOUBLE,      -- the always-valid bounds
    cs_high              DOUBLE,
    fixed_low            DOUBLE,      -- the fixed-horizon (Wald) interval of the same rows
    fixed_high           DOUBLE,
    rejects_always_valid BOOLEAN,     -- the CS excludes 0: a monitor may stop here and keep alpha
    rejects_naive        BOOLEAN,     -- the fixed interval excludes 0: peeking at these inflates false positives
    created_at           TIMESTAMPTZ
);
