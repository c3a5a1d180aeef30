"""The read side's questions and answers, shared by the HTTP API and the command line."""
