"""Out-of-core: stream Arrow sources through undertow's accumulators (`scan`)."""

from undertow.stream.scan import scan

__all__ = ["scan"]
