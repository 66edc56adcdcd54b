"""One router module per OGC resource."""
