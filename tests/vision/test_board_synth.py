"""Synthetic boards and planted defects (training data and photo-like bench of change-cnn)."""

from __future__ import annotations

import numpy as np

from inspection.vision import board_synth as bs
from inspection.vision.change_features import excess, network_input, reference_stats


def test_every_defect_kind_changes_the_copper_the_right_way() -> None:
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(30):
        board = bs.random_board(rng, (160, 160))
        for kind in bs.KINDS:
            res = bs.plant_defect(rng, board, kind)
            if res is None:
                continue
            new, pl = res
            seen.add(kind)
            assert pl.kind == kind and pl.mask.any()
            assert np.array_equal(pl.mask, new != board)
            added = new & ~board
            if kind in (bs.SHORT, bs.SPUR, bs.COPPER):
                assert added.any() and not (board & ~new).any()
            else:
                assert not added.any()
    assert seen == set(bs.KINDS)


def test_styles_render_grey_and_colour() -> None:
    rng = np.random.default_rng(1)
    board = bs.random_board(rng, (96, 128))
    for kind in bs.STYLES:
        img = bs.render(board, bs.random_style(rng, kind), rng, extras=bs.design_extras(rng, board))
        assert img.dtype == np.uint8
        assert img.shape == ((96, 128, 3) if kind == "photo" else (96, 128))


def test_change_features_are_contrast_invariant() -> None:
    rng = np.random.default_rng(2)
    board = bs.random_board(rng, (96, 96))
    res = None
    while res is None:
        res = bs.plant_defect(rng, board, bs.COPPER)
    part = res[0]
    feats = []
    for lo, hi in ((20, 230), (90, 130)):
        ref = np.where(board, lo, hi).astype(np.uint8)
        prt = np.where(part, lo, hi).astype(np.uint8)
        st = reference_stats(ref)
        b, d = excess(st, prt)
        feats.append(network_input(st, prt, b, d))
    assert feats[0].shape == (4, 96, 96)
    assert float(np.abs(feats[0] - feats[1]).mean()) < 0.05  # the same up to rounding and floors
    assert feats[0][3][res[1].mask].min() > 0.5  # the new copper is dark excess
