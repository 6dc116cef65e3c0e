"""Data foundation: annotation parsers, embedded dataset generator, downloads, frames, join."""
