"""Message text rules shared by every process: GSM alphabet, segments, safe spellings."""
