"""Reporters: pure functions from a run's :class:`~torchfix.results.FileReport` list to output text.

One module per ``--format``: ``text``, ``json``, ``sarif``, ``github``. Each has
``render(reports)`` (``render(reports, rules)`` for SARIF, which describes the
rules) returning the whole output, ending with a newline when it is not empty;
the command line only writes it. Output never depends on the order of
``reports``: files are sorted by path and findings by position.
"""
