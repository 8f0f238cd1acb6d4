"""Files in and out: tables, genomes, TSS lists, run directories."""
