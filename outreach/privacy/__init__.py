"""Data protection: message retention, a beneficiary's export and erasure."""
