"""What is computed at commissioning and loaded by the station as versioned artefacts.

Camera intrinsics and lens distortion (:mod:`calibration.intrinsics`, :mod:`calibration.undistort`),
millimetres per pixel (:mod:`calibration.scale`), golden references, variation models and thresholds
taught from good parts (:mod:`calibration.teach`), and the recipe bundles that hold them
(:mod:`calibration.bundle`). The core (``inspection``) never imports this package; the command line
imports it when a calibration or teaching command runs.
"""
