"""The GPU: NVML readings, the sampler, residency (budget, eviction, scheduler), thread budgets."""
