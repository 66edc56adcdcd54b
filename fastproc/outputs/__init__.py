"""The output store: outputs above the inline limit in an object store, not in Redis.

`objects` is the one module that touches `obstore`; `placement` turns what a process
returned (bytes, a file, an async iterator of bytes) into stored objects; `sweep` deletes
the objects whose job has expired.
"""
