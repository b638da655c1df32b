"""Typed errors of the station.

Every failure the station can meet has a class here, carrying the fields a caller needs to act on it
(and a human needs to read it). Vendor exceptions are re-raised as one of these ``from exc`` at the
plugin boundary, so nothing above the plugins depends on a vendor SDK's exception types.
"""

from __future__ import annotations


class InspectionError(Exception):
    """Base class of every error the station raises on purpose.

    ``key`` is a stable, machine-readable error key (for the HMI, the logs, the PLC's ERROR_CODE);
    the message is for people.
    """

    key = "inspection_error"

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        if key is not None:
            self.key = key


class ImageError(InspectionError):
    """An image is unusable: corrupt or truncated file, empty, wrong dtype or shape."""

    key = "bad_image"

    def __init__(self, message: str, *, path: str | None = None, key: str | None = None) -> None:
        super().__init__(message if path is None else f"{path}: {message}", key=key)
        self.path = path


class ConfigError(InspectionError):
    """A configuration value is missing, out of range, NaN or of the wrong type."""

    key = "bad_config"

    def __init__(self, message: str, *, field: str | None = None, key: str | None = None) -> None:
        super().__init__(message if field is None else f"{field}: {message}", key=key)
        self.field = field


class RecipeError(InspectionError):
    """A recipe cannot be used: unknown schema version, hash mismatch, reference missing."""

    key = "bad_recipe"


class AlignmentError(InspectionError):
    """Raised where an alignment failure must stop the caller (the pipeline returns a typed result)."""

    key = "alignment_failed"


class DetectorError(InspectionError):
    """A detector back-end failed: missing or corrupt model, runtime error."""

    key = "detector_error"


class CameraError(InspectionError):
    """A camera failed: not found, cannot open, grab failed, device removed."""

    key = "camera_error"

    def __init__(
        self,
        message: str,
        *,
        camera: str | None = None,
        code: int | None = None,
        key: str | None = None,
    ) -> None:
        prefix = f"camera {camera}: " if camera else ""
        suffix = f" (SDK code {code:#x})" if code is not None else ""
        super().__init__(f"{prefix}{message}{suffix}", key=key)
        self.camera = camera
        self.code = code


class CameraNotFound(CameraError):
    """No device matches the selection (serial, user id, index); the message lists what was found."""

    key = "camera_not_found"


class DeviceRemoved(CameraError):
    """The camera was unplugged or lost its link; it is being reopened in the background."""

    key = "device_removed"


class GrabTimeout(CameraError):
    """No frame arrived within the grab timeout."""

    key = "grab_timeout"


class PlcError(InspectionError):
    """The PLC link failed or the PLC wrote something the contract does not allow."""

    key = "plc_error"


class PlcWriteRefused(PlcError):
    """A PLC write the contract does not allow; nothing of it was applied.

    ``register`` is the contract address (0-based, before the offset) of the offending word,
    ``reason`` a stable key: ``reserved_bits``, ``recipe_out_of_range``, ``bad_ascii``, ``bad_value``,
    ``status_block`` (a write into the station's block) or ``unmapped`` (outside both blocks).
    """

    key = "plc_write_refused"

    def __init__(self, message: str, *, register: int, reason: str) -> None:
        super().__init__(f"HR{register}: {message}")
        self.register = register
        self.reason = reason


class CalibrationError(InspectionError):
    """Calibration could not be computed or loaded (too few good views, bad board, bad file)."""

    key = "calibration_error"


class MissingDependency(InspectionError):
    """An optional dependency (a vendor SDK, a runtime) is not installed; says which extra to install."""

    key = "missing_dependency"

    def __init__(self, package: str, *, extra: str | None = None, purpose: str = "") -> None:
        hint = f"pip install 'inspection-station[{extra}]'" if extra else f"pip install {package}"
        what = f" (needed for {purpose})" if purpose else ""
        super().__init__(f"{package} is not installed{what}; install it with: {hint}")
        self.package = package
        self.extra = extra


class StoreError(InspectionError):
    """The result store failed or refused an operation (unknown result, review not allowed, closed).

    ``key`` says which: ``unknown_result``, ``not_reviewable``, ``already_reviewed``, ``store_closed``,
    ``store_schema``, ``store_io``.
    """

    key = "store_error"


class StationError(InspectionError):
    """The station refused a command (unknown recipe, nothing to teach from, wrong state)."""

    key = "station_error"


class SinkError(InspectionError):
    """A result sink (MQTT broker, plant database, ...) could not take a whole batch; the outbox keeps
    what was not delivered and retries. ``delivered``: how many results at the start of the batch
    were delivered nonetheless. ``key``: ``sink_unreachable``, ``sink_refused``."""

    key = "sink_error"

    def __init__(self, message: str, *, delivered: int = 0, key: str | None = None) -> None:
        super().__init__(message, key=key)
        self.delivered = delivered
