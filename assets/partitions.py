"""The partitions of the market assets: one per day of the configured world."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from quant.settings import Settings

SETTINGS = Settings.from_env()
WORLD = SETTINGS.world_config()
# The simulated world is a fixed window; a real chain goes on, so its partitions run up to today.
WORLD_END = ((pd.Timestamp(WORLD.start) + pd.Timedelta(days=WORLD.days)).strftime("%Y-%m-%d")
             if SETTINGS.source == "simulated" else None)

daily_partitions = dg.DailyPartitionsDefinition(start_date=WORLD.start, end_date=WORLD_END)
