"""One module per scenario; each returns a plain result the report renders."""
