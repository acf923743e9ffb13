"""Production deployment helpers (docs/deploy.md): the atomic Redis lock store, DB init."""
