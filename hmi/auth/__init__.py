"""HMI users, roles, password hashing and sessions."""
