"""Benchmarks (`python -m bench`): pipeline overhead, worker concurrency, pages at scale, CSV, vault,
reference photos.

They print figures, one JSON line each; they never assert. Everything runs on this machine: a database
and broker of their own (PostgreSQL + Redis when DATABASE_URL / CELERY_BROKER_URL point at them, else
SQLite + the filesystem broker in a temporary folder) and processes on loopback ports that they stop.
"""
