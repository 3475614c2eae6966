"""Solana / Raydium AMM v4: account layout, logs, transactions, an RPC client and the market source."""
