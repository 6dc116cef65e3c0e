"""Training and evaluation: tokenizer, batches, frozen-backbone features, the two stages, metrics."""
