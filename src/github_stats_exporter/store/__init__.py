"""Snapshot stores: the port (`base`) and its adapters (`memory`, `redis`)."""
