"""The verifier's subprocess: the only code of torchfix that imports torch and user code.

Run as ``python -m torchfix.verify.worker REQUEST.json RESULT.jsonl``; it writes one
JSON object per line to the result file as it goes, so a timeout still leaves
the results of the models that finished.
"""
