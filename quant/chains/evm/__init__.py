"""EVM / Uniswap-V2-style pairs: log scanning, the market source, and the execution adapters."""
