"""SQL run by the inbox's backends, one file per backend (package data)."""
