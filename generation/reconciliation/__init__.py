"""Reconciliation: the workspace's ledger beside the providers' own usage and cost reports.

- `lines`: what one comparison says (`Line`, `Ours`), and our records for a period, read once.
- `by_key` (a report that counts per key and prices per day: OpenAI) and `by_request` (a report that
  lists requests: fal.ai): pure comparisons of our records with a provider's report (no queries, no
  writes): lines per UTC day, key matches, unknown amounts the report settles. The adapter says which
  (`Adapter.report_lists_requests`).
- `prices`: the provider's published prices beside the catalog's (price drift).
- `service`: a run: decrypt the usage key (vault, recorded), fetch the report, compare, store the run and
  its lines, and resolve unknown amounts the report settles (record and roll-up in one transaction).

Days are UTC days throughout (generation.dates), as the providers' daily buckets are.
"""
