"""CSV import of prospects: upload, column mapping, then asynchronous processing through the jobs runner."""
