"""The job lifecycle: the intents (submit, start, complete, fail, dismiss, progress) that are
the only writer of a job's state, over the Redis store (`fastproc.store`)."""
