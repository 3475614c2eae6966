"""Software-defined assets, grouped by layer. Thin: read inputs, call `quant`, write outputs, report."""
