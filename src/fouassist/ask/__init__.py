"""The read path, from a question to an answer: retrieval and ranking, the composed answer with
its citations, answerability (answer or abstain) and the optional language model."""
