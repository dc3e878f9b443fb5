"""Verification: prove a rewrite changed no numbers.

Two levels. The site check evaluates each fix's expression before and after on
synthesized tensors; the module check builds every affected model from the
original and from the rewritten sources, loads the original's ``state_dict()``
into the rewrite and compares outputs and gradients.

This package is the only part of torchfix that runs torch and user code, and it
does so only in subprocesses (:mod:`torchfix.verify.worker`): the modules here
import neither, so ``check`` and ``apply`` stay fast. Entry points:
:func:`torchfix.verify.commands.run_verify` (``torchfix verify``) and
:func:`torchfix.verify.commands.verify_apply` (``torchfix apply --verify``).
"""
