"""The standard's vocabulary: models, exceptions, conformance URIs, media types, schemas."""
