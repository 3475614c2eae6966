"""What several asset modules share: owners, the run-config classes more than one asset takes, the
embeddings' key prefix and the thinning of a large table. (Shared warehouse reads live in resources.queries.)"""

import dagster as dg
import pandas as pd
from pydantic import Field

from quant.wallets.scanner.config import ScannerConfig

ML_OWNER = "team:ml"
WALLETS_OWNER = "team:wallets"
EMBEDDINGS_PREFIX = ["embeddings"]  # the DuckDB table `funding_connections` already owns the bare key
KNOWN_OVERRIDES = ", ".join(f.name for f in ScannerConfig.__dataclass_fields__.values())


class TrainingConfig(dg.Config):
    """Rolling windows, in days: the newest `holdout_days` are held out; `train_days` before them train."""

    train_days: int = 5
    holdout_days: int = 2
    slippage_rows: int = 100_000  # most swaps a slippage fit uses (an even stride over the window)
    promotion_margin: float = 0.002  # ROC-AUC points, or slippage MAE, a challenger must win by


class WalletWindow(dg.Config):
    window_days: int = Field(default=0, ge=0, description="Days of market data to read, back from the newest "
                                                          "swap; 0 reads every stored day.")
    overrides: dict[str, float] = Field(default_factory=dict, description="Scanner settings to override, by "
                                        f"name (after RISK_* environment variables): {KNOWN_OVERRIDES}.")

    def scanner(self) -> ScannerConfig:
        return ScannerConfig.from_env(overrides=self.overrides)


def thin(frame: pd.DataFrame, rows: int) -> pd.DataFrame:
    """An even, deterministic stride down to at most `rows` rows."""
    return frame.iloc[:: max(1, -(-len(frame) // rows))]
