"""The FAQ as data: its model, the loader and validator, the source documents, links to passages, coverage,
the phrasings each entry is asked by, and what admins taught from Slack."""
