"""triggers of the 8x8 Cloud Storage provider."""
