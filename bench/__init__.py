"""The benchmark suite: ``python -m bench`` (``make bench``)."""
