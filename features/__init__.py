"""Everything about data coming in: the record catalog, USCC checks, ingest, profiles and the graph."""
