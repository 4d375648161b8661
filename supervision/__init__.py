"""The operational domain: database, working-day calendar, sampling draws, lifecycle and audit."""
