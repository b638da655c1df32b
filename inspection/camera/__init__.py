"""Camera drivers' contract and shared machinery (settings, checks, recovery, bench)."""
