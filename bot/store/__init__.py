"""Storage: the engine and sessions, every madoguchi table, tickets, channel bookkeeping,
statistics, the audit log and schema upgrades. Imports the language, domain and security layers,
never a service or an adapter."""
