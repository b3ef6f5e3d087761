"""`python -m bench`: the service against a bare aiohttp floor, on loopback, in the same run.

Every process (sink, floor, service, load generator) is separate, so each one's CPU and memory are its own.
See docs/performance.md for what each figure means.
"""
