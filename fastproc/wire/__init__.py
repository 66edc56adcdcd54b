"""arq's wire format as fastproc writes it: Redis key names, the task message, task names,
enqueueing and aborting. Nothing here runs a task or knows a job's state machine."""
