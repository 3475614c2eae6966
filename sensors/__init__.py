"""Sensors: signals from outside the asset graph (drift of new data, failed retraining runs)."""
