"""Project settings. See https://docs.kedro.org/en/stable/configure/configuration_basics/"""

from functools import partial

from kedro.framework.session import session as kedro_session

from customer_retention.core.run_lock import distinct_stamp
from customer_retention.hooks import (
    BlasThreadsHook,
    DemoDataHook,
    HandOverHook,
    InputsCheckHook,
    NodeTimingHook,
    ParameterCheckHook,
    ReleaseMemoryHook,
    RunManifestHook,
    RunSummaryHook,
    SparkHook,
    TrackingHook,
)

# Hooks are executed in a Last-In-First-Out (LIFO) order. RunManifestHook wraps the other
# before_pipeline_run hooks (a pluggy wrapper), so a failing pre-flight check is recorded too.
# ReleaseMemoryHook comes after NodeTimingHook so that it runs first: the memory a node
# leaves behind is measured after the release.
HOOKS = (
    RunSummaryHook(),
    DemoDataHook(),
    NodeTimingHook(),
    ReleaseMemoryHook(),
    BlasThreadsHook(),  # BLAS on one thread: the same numbers whichever nodes run at once
    HandOverHook(),  # Parquet frames handed from writer to readers in memory (datasets.handover)
    SparkHook(),  # --env spark only: the Spark session, started before the run, stopped after
    InputsCheckHook(),
    RunManifestHook(),
    # After RunManifestHook: its before_pipeline_run runs before InputsCheckHook's (the
    # registry's champion can stand in for the store) and its after_pipeline_run before the
    # manifest's (the run lock is still held while the MLflow run is finished).
    TrackingHook(),
    ParameterCheckHook(),  # after_context_created: the parameters, before anything runs
)

# conf/local (and --env) override conf/base key by key: a parameters file in conf/local that
# sets one key keeps every other key of the block (Kedro's default replaces the whole block).
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    "merge_strategy": {"parameters": "soft", "globals": "soft"},
}

# Kedro names a run (run_id, save version, run_history file) by the time to the millisecond, so
# two runs started together could share a name; core.run_lock.distinct_stamp makes every
# reading on this machine distinct. KedroSession.create reads it after loading this module.
if not isinstance(kedro_session.generate_timestamp, partial):  # once, however often imported
    kedro_session.generate_timestamp = partial(distinct_stamp, kedro_session.generate_timestamp)
