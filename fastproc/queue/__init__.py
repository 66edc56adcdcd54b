"""arq glue: enqueueing, the worker, its tasks and the fan-out join."""
