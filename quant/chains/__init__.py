"""Real chain clients: Solana/Raydium AMM v4 and EVM/Uniswap-V2-style pairs, behind the `MarketSource` fetch.

Plain Python (solana-py, solders, web3); never imports dagster. Each source returns the same columns as the
simulated market (`quant.market.schemas`)."""
