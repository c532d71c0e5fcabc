"""OAuth 2.0 authorization code flow with PKCE: providers, states, tokens and their refresh."""
