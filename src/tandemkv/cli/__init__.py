"""Command-line entry points: tandemkv-server and tandemkv-benchmark."""
