"""The benchmark suite: `python -m bench` (see bench/suite.py) writes bench/RESULTS.md.

Everything runs on one machine (server, PostgreSQL, load generator), so each figure is reported
next to a baseline measured in the same run, as a ratio, and is the median of several runs.
"""
