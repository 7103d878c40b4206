"""Chat that makes pictures: the prompt writer, /imagine and /story (built on the chat
turn's core, model admission and the GPU scheduler)."""
