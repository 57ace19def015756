"""Placeholder module name reserved; filled in when the simulator and OPE land."""


def available() -> bool:
    return False
