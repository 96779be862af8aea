"""What the answers contain: generated prose and its lexicon, fixtures, token splitting, embedding vectors, PNG images,
float32 formatting."""
