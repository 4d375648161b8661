"""The platform under the domain: database, identities and access, audit, ledger, calendar and clock,
masking."""
