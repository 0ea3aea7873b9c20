"""OKX v5 public market-data ingestor."""

__version__ = "0.1.0"
