"""The station runtime: config, state, signals, recipes, settings, result hub, the HMI port."""
