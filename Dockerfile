# The inspection station, CPU build. By default it runs the demo station (emulated Basler camera,
# Modbus TCP server, simulated PLC, HMI); run a real station with
#   docker run ... inspection-station inspection run --config /etc/inspection/station.toml
#
#   docker build -t inspection-station .
#   docker run --rm -p 8080:8080 -p 5020:5020 inspection-station
#
# A GigE camera needs the host's network (--network host) and large receive buffers on the host
# (docs/cameras.md); a USB3 camera needs the device passed in (--device /dev/bus/usb).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin station

WORKDIR /opt/station
COPY pyproject.toml README.md LICENSE requirements.lock ./
COPY inspection ./inspection
COPY plugins ./plugins
COPY calibration ./calibration
COPY hmi ./hmi
# exactly the locked versions (extra "cpu": onnxruntime, never onnxruntime-gpu alongside it; the plant
# integrations, docs/integration.md: MQTT, PostgreSQL plant store and view, OPC UA, Siemens S7), then the
# project itself without resolving anything
RUN pip install -r requirements.lock && pip install --no-deps --no-build-isolation . \
    && python -c "import inspection, cv2, pymodbus, pypylon, fastapi, paho.mqtt, psycopg, asyncua, snap7"

USER station
WORKDIR /home/station
EXPOSE 8080 5020
HEALTHCHECK --interval=15s --timeout=5s --start-period=40s --retries=3 \
    CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=4).status == 200 else 1)"
CMD ["inspection", "demo", "--http-host", "0.0.0.0", "--modbus-host", "0.0.0.0", "--dir", "/home/station/demo"]
