"""Plant integration: result sinks fed by the store's outbox (MQTT, PostgreSQL), the plant view,
the OPC UA Machine Vision server. Each vendor library is imported by exactly one module, lazily."""
