"""Topology check of a learned classifier's type where it hesitates between two look-alike types.

DeepPCB's open and mouse-bite (missing copper) and short and spur (extra copper) look alike in a
small window; what tells them apart is topology: an open splits a conductor in two, a short joins
two conductors, a mouse-bite and a spur do neither. The rule typing of
:func:`inspection.vision.classify.classify_pcb` reads exactly that from the connected components of
the binarised reference and part around the region. It is design-independent but less accurate
than the network overall (it calls about 4 % of the mouse-bites open), so it is used as a second,
independent opinion only where the network's top type has such a partner and the network is not
sure enough, in the way of a product of experts restricted to the pair:

    keep the network's type ``a`` unless the rule names its partner ``b`` and
    ``p(a) < RULE_ODDS[b] * p(b)``

where ``RULE_ODDS[b] = P(rule says b | truth b) / P(rule says b | truth a)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from inspection.findings import DefectClass

#: The look-alike types: each one's partner.
PARTNER = {DefectClass.OPEN: DefectClass.MOUSEBITE, DefectClass.MOUSEBITE: DefectClass.OPEN,
           DefectClass.SHORT: DefectClass.SPUR, DefectClass.SPUR: DefectClass.SHORT}

#: Likelihood ratio of the rule naming a type: P(rule = b | truth b) / P(rule = b | truth partner(b)),
#: from the rule types of the candidates of the DeepPCB training split (``inspection train pcb-cnn``
#: samples, clean and perturbed copies: 16, 118, 208, 346), rounded down. Per leave-one-group-out
#: fold the measured ratios range 13-25, 97-207, 205-384, 346-1801.
RULE_ODDS = {DefectClass.OPEN: 15.0, DefectClass.MOUSEBITE: 100.0, DefectClass.SHORT: 200.0,
             DefectClass.SPUR: 300.0}

TYPINGS = ("cnn", "topology")


def hesitant(probs: np.ndarray, classes: Sequence[DefectClass], types: Sequence[int]) -> list[int]:
    """Rows of ``probs`` (N, C; column k is ``classes[k]``) whose type (column ``types[i]``) has a
    partner the rule could still win for: ``p(type) < RULE_ODDS[partner] * p(partner)``."""
    column = {c: k for k, c in enumerate(classes)}
    rows = []
    for i, k in enumerate(types):
        partner = PARTNER.get(classes[k])
        if partner is None or partner not in column:
            continue
        if probs[i, k] < RULE_ODDS[partner] * probs[i, column[partner]]:
            rows.append(i)
    return rows


def refine(probs: np.ndarray, classes: Sequence[DefectClass], types: Sequence[int],
           rule: Callable[[int], DefectClass]) -> list[int]:
    """``types`` (column per row) with the rule's partner type taken where the network hesitates;
    ``rule(i)`` types row ``i`` by topology and is called only for :func:`hesitant` rows."""
    out = list(types)
    column = {c: k for k, c in enumerate(classes)}
    for i in hesitant(probs, classes, types):
        if rule(i) == PARTNER[classes[types[i]]]:
            out[i] = column[PARTNER[classes[types[i]]]]
    return out
