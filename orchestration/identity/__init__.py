"""Identity resolution helpers on the Python side: accuracy metrics and `cdp explain`."""
