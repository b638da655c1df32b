"""The PLC contract: register codec, records, jobs, the fail-safe state machine, bridges."""
