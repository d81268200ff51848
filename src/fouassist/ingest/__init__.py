"""The write path, from a file to the index: reading and cleaning documents (in a bounded child
process for uploads), cutting them into chunks, embedding and writing them, and the upload jobs."""
