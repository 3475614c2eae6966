"""Market data as a chain reports it: AMM math, table contracts, validation and quarantine, address checks, the `MarketSource` interface."""
