"""Warehouse-native customer data platform: loaders, Dagster definitions and the `cdp` CLI."""
