"""The one result schema: track identity, genome coordinates, tables and BED."""
