"""io: atomic writes and the model-file container (safetensors + JSON), save/load dispatched by kind."""
