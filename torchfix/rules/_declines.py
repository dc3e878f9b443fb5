"""The wording of a finding reported without a fix: every reason that rules the fix out.

A module rule may have several reasons to decline (a layer read elsewhere, and the
class is public, and the project pickles whole models); the user fixing one of them
should see the others too. One reason reads ``no fix: <reason>``; several are
numbered (``no fix: (1) <reason>; (2) <reason>``) in the order the rule found them, the most specific first, and reasons that
differ only in their subject are said once (```self.q.bias`` and ``self.k.bias`` are
used directly``).
"""

from __future__ import annotations

import re

#: "`<subject>` is <predicate>": the reasons that merge when only the subject differs
_SUBJECT = re.compile(r"^(`[^`]+`) is (.+)$", re.DOTALL)


def no_fix(reasons: list[str]) -> str:
    """``no fix: r`` for one reason, ``no fix: (1) r1; (2) r2`` for several."""
    merged = _merge(list(dict.fromkeys(reasons)))
    if len(merged) == 1:
        return f"no fix: {merged[0]}"
    numbered = "; ".join(f"({i}) {reason}" for i, reason in enumerate(merged, 1))
    return f"no fix: {numbered}"


def _merge(reasons: list[str]) -> list[str]:
    subjects: dict[str, list[str]] = {}
    order: list[str | tuple[str]] = []
    for reason in reasons:
        found = _SUBJECT.match(reason)
        if found is None:
            order.append(reason)
            continue
        subject, predicate = found.groups()
        if predicate not in subjects:
            subjects[predicate] = []
            order.append((predicate,))
        subjects[predicate].append(subject)
    merged = []
    for item in order:
        if isinstance(item, str):
            merged.append(item)
            continue
        names = subjects[item[0]]
        if len(names) == 1:
            merged.append(f"{names[0]} is {item[0]}")
        else:
            merged.append(f"{', '.join(names[:-1])} and {names[-1]} are {item[0]}")
    return merged
