"""Speed measurements, one command each: `python -m benchmarks.NAME`.

Every benchmark prints a table and writes its numbers as JSON, and states
each speed against a peer measured in the same run.
"""
