"""The partitions of the market assets: one per day of the configured world."""

from __future__ import annotations

import dagster as dg
import pandas as pd

from quant.settings import Settings


def daily_partitions_for(settings: Settings) -> dg.DailyPartitionsDefinition:
    """A partition per day of the settings' world. The simulated world is a fixed window; a real chain goes
    on, so its partitions run up to today."""
    world = settings.world_config()
    end = ((pd.Timestamp(world.start) + pd.Timedelta(days=world.days)).strftime("%Y-%m-%d")
           if settings.source == "simulated" else None)
    return dg.DailyPartitionsDefinition(start_date=world.start, end_date=end)
