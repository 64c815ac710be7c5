"""The live path: the event collector (Segment HTTP Tracking API) and what follows it."""
