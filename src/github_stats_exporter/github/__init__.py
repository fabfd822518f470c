"""GitHub access layer: authentication, the rate-limit-aware HTTP client, typed endpoint calls."""
