"""Each rule's before/after examples and valid near misses, one module per rule (``tfNNN.py``)."""
