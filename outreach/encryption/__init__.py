"""Field encryption: personal data is stored as ciphertext and found by keyed hashes.

A copy of the database (a dump, a stolen backup, a curious host) must not name a
woman or give her number: in conflict areas a list of displaced pregnant women with
their villages and phones endangers them. The keys live in settings, never in the
database (docs/configuration.md, "Personal data").
"""
