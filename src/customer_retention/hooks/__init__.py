"""Project hooks, one module per concern:

- :mod:`.demo_data`: generate the demo data when data/01_raw is empty; require the contract's tables;
- :mod:`.memory`: hand freed memory back to the operating system after loads and nodes;
- :mod:`.timing`: node and dataset timings for the benchmarks (off unless asked for);
- :mod:`.run_manifest`: the record of every run, and the promoted-model check before scoring;
- :mod:`.summary`: quiet dataset lines and the closing block (report path, scored, quarantined).
"""

from .demo_data import DemoDataHook
from .memory import ReleaseMemoryHook
from .run_manifest import PromotedModelCheckHook, RunManifestHook
from .summary import RunSummaryHook
from .timing import NodeTimingHook

__all__ = [
    "DemoDataHook",
    "NodeTimingHook",
    "PromotedModelCheckHook",
    "ReleaseMemoryHook",
    "RunManifestHook",
    "RunSummaryHook",
]
