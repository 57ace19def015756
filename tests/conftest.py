"""Session set-up shared by every test.

absl (imported by optax, hence by :mod:`bandits.learners`) builds its logging handler at import
time around the ``sys.stderr`` of that moment, which under pytest is the session's capture file.
Hydra configures logging with :func:`logging.config.dictConfig`, which closes every handler ever
created, and absl's handler closes its stream unless it is the current ``sys.stderr``: inside a
test using ``capsys`` it is not, so the session's capture file was closed and every later test on
that worker errored. Pointing absl's handler at the process's real stderr keeps the capture file
open; the product itself is unaffected (outside pytest the two streams are the same).
"""

from __future__ import annotations

import sys

try:
    from absl import logging as _absl_logging
except ImportError:  # absl arrives with optax; without it there is nothing to guard
    _absl_logging = None

if _absl_logging is not None:
    _absl_logging.get_absl_handler().python_handler.stream = sys.__stderr__
