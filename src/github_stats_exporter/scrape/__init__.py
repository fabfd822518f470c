"""Collectors that turn GitHub data into snapshots."""
