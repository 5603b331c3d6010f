"""Verify stage: rendered objects and the prepared compose project in, a VerifyReport out (every
difference explained or not, schema and structural problems)."""
