"""What the study scripts share: matplotlib without a display, and the end of a run (the figure
written when asked for, the result printed as one JSON line)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend (figures only go to files)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def finish(out: dict, fig: Any = None, path: str | None = None, dpi: int = 120) -> dict:
    """Write ``fig`` to ``path`` (when a figure is given; ``out["figure"]`` records the path),
    print ``out`` as one JSON line and return it."""
    if fig is not None:
        fig.tight_layout()
        fig.savefig(path, dpi=dpi)
        out["figure"] = path
    print(json.dumps(out))
    return out


def parser(doc: str, **defaults: Any) -> argparse.ArgumentParser:
    """An argument parser described by the first paragraph of ``doc``, with an option
    ``--name-with-dashes`` of the default's type for each keyword (``truth_contexts=200_000``)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    for name, default in defaults.items():
        ap.add_argument("--" + name.replace("_", "-"), type=type(default), default=default)
    return ap
