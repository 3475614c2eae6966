"""The partitions of the market assets: one per day of the configured world."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from quant.settings import Settings

WORLD = Settings.from_env().world_config()
WORLD_END = (pd.Timestamp(WORLD.start) + pd.Timedelta(days=WORLD.days)).strftime("%Y-%m-%d")

daily_partitions = dg.DailyPartitionsDefinition(start_date=WORLD.start, end_date=WORLD_END)
