"""Pipeline scripts that tests run as separate driver processes (to kill and restart them)."""
