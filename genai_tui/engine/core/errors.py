"""One exception tree. Every message says what happened and what to do next."""

from __future__ import annotations


class GenaiError(Exception):
    """Base of every error the engine raises on purpose.

    `message` says what happened; `hint` says what the user can do about it.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}".strip()


class ConfigError(GenaiError):
    """The settings file or environment holds something we cannot use."""


class ModelError(GenaiError):
    """A model file could not be found, read or loaded."""


class ModelNotFoundError(ModelError):
    pass


class NotGGUFError(ModelError):
    pass


class TruncatedModelError(ModelError):
    pass


class UnsupportedArchitectureError(ModelError):
    pass


class ModelTooLargeError(ModelError):
    pass


class NoModelError(ModelError):
    """A chat was asked for while no model is selected."""


class ContextOverflowError(GenaiError):
    """The newest message alone does not fit in the model's context."""


class GenerationError(GenaiError):
    """The backend failed while producing a reply."""


class StoreError(GenaiError):
    """The conversation database could not be read or written."""


class HubError(GenaiError):
    """The Hugging Face Hub (or the endpoint configured) did not give what was asked."""


class HubAuthError(HubError):
    """401/403: no token, a token the Hub rejects, or a gated repo whose terms are not accepted."""


class HubNotFoundError(HubError):
    """The repo, revision or file does not exist (or is private and hidden from us)."""


class HubUnavailableError(HubError):
    """The endpoint could not be reached, timed out, rate-limited us or failed (5xx)."""


class ProviderError(GenaiError):
    """A remote OpenAI-compatible server (engine/llm_remote.py) failed or refused a request."""


class ProviderAuthError(ProviderError):
    """401/403: no API key, or one the server rejects."""


class ProviderModelNotFoundError(ProviderError):
    """404: the server does not serve the model (or the URL is not an OpenAI-style API)."""


class ProviderUnavailableError(ProviderError):
    """Connection refused, DNS, TLS, timeout, 429 or 5xx, or the circuit breaker is open."""


class ProviderRejectedError(ProviderError):
    """Another 4xx: the server understood the request and refused what it asked (e.g. a
    `response_format` it does not support)."""


class ProviderStreamError(ProviderError):
    """The reply stream broke off or carried data that is not OpenAI-style chunks."""


class ImageRequestError(GenaiError):
    """An image request asks for something invalid (size, steps, strength, init image)."""


class PipelineError(ModelError):
    """A diffusers model is missing, damaged, of a kind we cannot run, or failed mid-run."""


class ImageOutOfMemoryError(GenaiError):
    """The GPU ran out of memory while generating. `retry` is the request with offload on."""

    def __init__(self, message: str, hint: str = "", retry: object = None) -> None:
        super().__init__(message, hint)
        self.retry = retry


class GpuBudgetError(ModelError):
    """A model alone needs more memory than the budget for loaded models (gpu.vram_budget_mb)."""
