"""Bundled datasets: the Open Bandit Dataset sample (:func:`bandits.datasets.obd.load_obd`)."""

from bandits.datasets.obd import load_obd, load_obd_raw

__all__ = ["load_obd", "load_obd_raw"]
