"""curate: build distribution-shift benchmarks and measure robustness on them."""

__version__ = "0.1.0"
