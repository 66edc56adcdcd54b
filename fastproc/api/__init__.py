"""The HTTP layer: app factory, one router per resource, negotiation and errors."""
