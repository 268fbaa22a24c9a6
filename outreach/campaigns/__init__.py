"""Message campaigns: compose, price, approve, schedule, send through the outbox, follow."""
