"""Quasi-experiments for when a change cannot be randomised member by member: difference-in-
differences, synthetic control and synthetic DiD on region (or market) panels, and rehearsals of
each in the member simulator with a known effect. See ``docs/quasi.md``.

- :mod:`~experiments.quasi.panel`: the balanced :class:`Panel`, its checks, the Proposition 99 data.
- :mod:`~experiments.quasi.did`: two-way fixed effects, event study, Callaway & Sant'Anna.
- :mod:`~experiments.quasi.synth`: synthetic control with in-space placebo inference.
- :mod:`~experiments.quasi.sdid`: synthetic difference-in-differences.
- :mod:`~experiments.quasi.inference`: the result record and randomisation inference.
- :mod:`~experiments.quasi.rehearsal`: regional rollouts in the simulator, coverage, minimum
  detectable effects.

Panels here are small (tens of units, tens of periods) and the weight problems are solved by
scipy, so this package is numpy/scipy, float64 throughout; rehearsals vectorise over replications
where the estimator has a closed form.
"""

from experiments.quasi.did import callaway_santanna, event_study, twfe, twfe_arrays
from experiments.quasi.inference import Estimate
from experiments.quasi.panel import Panel, PanelError, load_prop99, panel_from_frame, prop99_panel
from experiments.quasi.rehearsal import Design, minimum_detectable_effect, region_world, rehearse, simulate
from experiments.quasi.sdid import sdid
from experiments.quasi.synth import Predictor, simplex_weights, synthetic_control

__all__ = [
    "Panel", "PanelError", "panel_from_frame", "load_prop99", "prop99_panel", "Estimate", "twfe", "twfe_arrays",
    "event_study", "callaway_santanna", "synthetic_control", "Predictor", "simplex_weights", "sdid", "Design",
    "region_world", "simulate", "rehearse", "minimum_detectable_effect",
]
