"""The write path, from a file to the index: reading and cleaning documents (in a bounded child
process for uploads), cutting them into chunks, embedding and writing them; one Writer, with the
write lock and the upload jobs, makes every change."""
