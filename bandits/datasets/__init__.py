"""Bundled datasets: the Open Bandit Dataset sample (:func:`bandits.datasets.obd.load_obd`)."""

from bandits.datasets.obd import load_obd, load_obd_raw, obd_site_prior

__all__ = ["load_obd", "load_obd_raw", "obd_site_prior"]
