"""Data sets churnkit ships or generates, kept apart from the pipeline stages: the sample shop generator and CDNOW."""
