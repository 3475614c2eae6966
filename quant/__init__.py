"""The domain: AMM math, the market simulator, features, models and chain clients. Never imports Dagster."""
