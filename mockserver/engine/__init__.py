"""The engine every emulated API shares: clock, plans, scenarios, store, artifacts, journal."""
