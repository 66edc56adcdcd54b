"""Redis persistence: job records and their compare-and-set scripts, results, the join and
flow state, logs, the cache entries, the catalogue, listing and the dashboard's history.
Only the lifecycle (`fastproc.jobs`) writes job state through it."""
