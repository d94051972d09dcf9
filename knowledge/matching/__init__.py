"""The lexical matcher: normalising a message, its words and synonyms, the language it is in, and fuzzy and
BM25-style scores of each entry."""
