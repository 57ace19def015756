"""Hydra instantiates launchers only from classes defined in the ``hydra_plugins`` namespace.

The implementation is :class:`experiments.ray_launcher.RayLauncherBase` (that module puts this
directory on ``sys.path`` and registers ``hydra/launcher=ray``); this subclass gives it a module
name Hydra accepts.
"""

from experiments.ray_launcher import RayLauncherBase


class RayLauncher(RayLauncherBase):
    """``hydra/launcher=ray`` (see :mod:`experiments.ray_launcher`)."""
