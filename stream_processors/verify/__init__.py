"""The verify slice: check-ins in, decisions out."""
