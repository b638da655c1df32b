"""Industrial inspection station: the core (types, alignment, change detection, pipeline, CLI).

The core imports no vendor SDK and none of ``plugins``, ``calibration`` or ``hmi``.
"""

__version__ = "0.1.0"
