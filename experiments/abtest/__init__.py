"""A/B testing before (and during) the live test: sequential tests, planning, CUPED, bootstrap,
interleaving and simulator rehearsals. See ``docs/abtest.md``.

- :mod:`~experiments.abtest.sequential`: mSPRT always-valid p-values and confidence sequences.
- :mod:`~experiments.abtest.planning`: fixed-horizon sample size, sequential design (power, expected n).
- :mod:`~experiments.abtest.cuped`: CUPED variance reduction.
- :mod:`~experiments.abtest.bootstrap`: Poisson bootstrap, streaming and compressed.
- :mod:`~experiments.abtest.studies`: A/A peeking, power and CUPED studies.
- :mod:`~experiments.abtest.interleaving`: team-draft interleaving and rehearsals in the member simulator.
"""

from experiments.abtest.bootstrap import (
    Compressed,
    StreamingCompressor,
    bootstrap_diff,
    compress,
    percentile_interval,
    poisson_bootstrap_mean,
    poisson_bootstrap_rows,
)
from experiments.abtest.cuped import CupedResult, cuped_adjust, cuped_test, cuped_theta
from experiments.abtest.planning import (
    FixedPlan,
    SequentialPlan,
    fixed_power,
    fixed_sample_size,
    plan_sequential,
    sequential_operating_characteristics,
)
from experiments.abtest.sequential import (
    MSPRT,
    SequentialResult,
    msprt_statistic,
    msprt_test,
    naive_peeking_pvalues,
)
from experiments.abtest.studies import aa_peeking_study, cuped_study, power_study

__all__ = [
    "Compressed", "StreamingCompressor", "bootstrap_diff", "compress", "percentile_interval", "poisson_bootstrap_mean",
    "poisson_bootstrap_rows", "CupedResult", "cuped_adjust", "cuped_test", "cuped_theta", "FixedPlan", "SequentialPlan",
    "fixed_power", "fixed_sample_size", "plan_sequential", "sequential_operating_characteristics", "MSPRT",
    "SequentialResult", "msprt_statistic", "msprt_test", "naive_peeking_pvalues", "aa_peeking_study", "cuped_study",
    "power_study",
]
