"""lanewatch: queue and clearance-time monitoring for road border crossings.

This package holds what edge and central share: the event contract, plate rules and
time helpers. `edge`, `central` and `sim` are the three programs built on it.
"""
