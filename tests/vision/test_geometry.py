from __future__ import annotations

import numpy as np
import pytest

from inspection.vision.geometry import Alignment, compose, invert, rigid_matrix, transform_box, transform_points


def test_rigid_matrix_matches_opencv() -> None:
    import cv2

    m = rigid_matrix(3.0, -2.0, 7.5, center=(10.0, 20.0), scale=1.1)
    cv = cv2.getRotationMatrix2D((10.0, 20.0), 7.5, 1.1)
    cv[:, 2] += (3.0, -2.0)
    assert np.allclose(m, cv)


def test_compose_invert() -> None:
    a = rigid_matrix(3.0, 1.0, 12.0, center=(5, 5))
    b = np.array([[1.02, 0.01, -4.0], [0.0, 0.98, 2.0]])
    assert np.allclose(compose(a, invert(a)), np.eye(2, 3))
    p = np.array([[1.0, 2.0], [30.0, -4.0]])
    assert np.allclose(transform_points(compose(a, b), p), transform_points(a, transform_points(b, p)))
    with pytest.raises(np.linalg.LinAlgError):
        invert(np.zeros((2, 3)))


def test_alignment_properties() -> None:
    m = rigid_matrix(4.0, -3.0, 2.0, center=(50, 50))
    al = Alignment(matrix=m, ok=True, score=1.0)
    assert al.angle_deg == pytest.approx(2.0)
    assert al.shift_about((50, 50)) == pytest.approx((4.0, -3.0))
    x1, y1, x2, y2 = transform_box(m, (40, 40, 60, 60))
    assert x2 - x1 > 20 and y2 - y1 > 20  # a rotated box's bounding box grows
