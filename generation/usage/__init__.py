"""Usage and cost history: what the history page, its CSV and the dashboard read, and the roll-ups they read.

One module per job, imported by name (this package re-exports nothing):

- `filters`: the query string's filter form and the `Filters` it gives; `records`, the selector every
  other read starts from.
- `roll_ups`: the only writes: `roll_up` in the transaction that saves cost records, `rebuild_roll_ups`.
- `totals`: selectors over roll-ups and records: a period's totals, the chart's months, this month's spend.
- `chart`: the monthly chart's SVG geometry (no queries).
- `history`: the keyset-paged rows of the history page, and the dashboard's newest avatars.
- `export`: the CSV rows.

Totals come from monthly roll-ups (`UsageMonth`, kept in the transaction that writes each cost record),
plus the records of any partial month at the edges of a date range; pages are keyset slices on
(created_at, id). Neither the number of queries nor the rows read for a page grow with the workspace's
history (100k records and more).
"""
