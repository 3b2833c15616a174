"""Runtimes: the processes that run the steps (embedded, Cloud Run, pull workers), and bootstrap.

bootstrap is the composition root: the one module that builds adapters.
"""
