"""The LinkedIn action engine (issue 18): scheduler, action worker, acceptance and reply attribution, sweeps."""
