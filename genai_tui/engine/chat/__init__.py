"""Chat: the chat turn, local (llama.cpp) and remote (OpenAI-compatible) models, compare, usage."""
