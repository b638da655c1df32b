"""The operator HMI: a FastAPI app (``hmi.app.create_app``) around a station (any
``inspection.station.port.StationPort``), with a static page and ``python -m hmi``."""
