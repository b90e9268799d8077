"""Building blocks of the benchmark: edit scripts and a raw-LSP floor-latency client."""
