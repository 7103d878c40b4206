"""Image generation: the studio, the diffusers pipeline and its parameters, the gallery."""
