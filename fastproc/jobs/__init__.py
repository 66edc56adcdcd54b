"""Job records, their state machine, results and events."""
