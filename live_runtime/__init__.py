"""The live runtime: a separate process that trades a stream with the models Dagster last promoted.

It imports `quant` (features, labels, registry, AMM math, chain clients) and never Dagster: see
`python -m live_runtime --help`.
"""
