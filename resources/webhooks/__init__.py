"""Code-host webhooks: how deliveries are verified and read, and what they queue."""
