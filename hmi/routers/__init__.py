"""HMI API routers, one per area."""
