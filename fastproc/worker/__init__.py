"""The worker: its launch (`launch`), the loop that claims tasks from arq's queues
(`arq_loop`), and the tasks themselves — a job, a fan-out's split, parts and merge, a
workflow's nodes — which end their jobs through the lifecycle (`fastproc.jobs`)."""
