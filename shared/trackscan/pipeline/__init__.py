"""The pipeline steps: pure functions of a message plus ports."""
