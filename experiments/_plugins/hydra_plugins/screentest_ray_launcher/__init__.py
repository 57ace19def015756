"""Hydra only instantiates launchers from the ``hydra_plugins`` namespace; this re-exports ours.

The implementation lives in :mod:`experiments.ray_launcher` (which puts this directory on
``sys.path`` and registers ``hydra/launcher=ray``).
"""

from experiments.ray_launcher import RayLauncher  # noqa: F401
