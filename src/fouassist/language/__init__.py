"""Swedish and Norwegian text analysis shared by both paths: tokens, lemmas, compound splitting,
stop words, language detection, sentences, and the language pack (`words`: every word list)."""
