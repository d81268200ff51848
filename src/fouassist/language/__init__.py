"""Swedish and Norwegian text analysis shared by both paths: tokens, lemmas, compound splitting,
stop words and language detection."""
