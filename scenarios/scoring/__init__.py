"""Use case: batch ML scoring — data in the store, a model, five ways to run
inference, dependencies, batch size."""
