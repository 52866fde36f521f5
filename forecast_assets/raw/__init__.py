"""Raw stage: each source's daily observations landed unchanged in the staging zone."""
