"""Project hooks, one module per concern:

- :mod:`.demo_data`: generate the demo data when data/01_raw is empty; require the contract's tables;
- :mod:`.memory`: hand freed memory back to the operating system after loads and nodes;
- :mod:`.timing`: node and dataset timings for the benchmarks (off unless asked for);
- :mod:`.run_manifest`: the record of every run (and the run lock, ``core.run_lock``);
- :mod:`.inputs_check`: before any node, the inputs other stages write (and the promoted model);
- :mod:`.parameter_check`: the parameters against their typed schema, before anything runs;
- :mod:`.summary`: quiet dataset lines and the closing block (report path, scored, quarantined);
- :mod:`.threads`: BLAS held at one thread during a run (results independent of the schedule);
- :mod:`.spark`: the Spark session of ``--env spark`` (started before the run, stopped after);
- :mod:`.tracking`: MLflow experiment tracking and the churn-model registry (``tracking``
  parameters; what is logged: :mod:`.tracking_content`).
"""

from .demo_data import DemoDataHook
from .inputs_check import InputsCheckHook
from .memory import HandOverHook, ReleaseMemoryHook
from .parameter_check import ParameterCheckHook
from .run_manifest import RunManifestHook
from .spark import SparkHook
from .summary import RunSummaryHook
from .threads import BlasThreadsHook
from .timing import NodeTimingHook
from .tracking import TrackingHook

__all__ = [
    "BlasThreadsHook",
    "DemoDataHook",
    "InputsCheckHook",
    "NodeTimingHook",
    "ParameterCheckHook",
    "HandOverHook",
    "ReleaseMemoryHook",
    "RunManifestHook",
    "RunSummaryHook",
    "SparkHook",
    "TrackingHook",
]
