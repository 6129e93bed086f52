"""The benchmark tool's parts: load generator (loadgen), scenarios, statistics (stats),
servers to measure (servers), outputs (report) and side-by-side runs (compare).

The load generator talks to servers over TCP only, so every scenario runs against any RESP
server; tandemkv is only ever started as a subprocess.
"""
