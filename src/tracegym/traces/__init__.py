"""Traces in: readers for SGD and OpenAI-format chat logs, and the compiler that turns them into samples."""
