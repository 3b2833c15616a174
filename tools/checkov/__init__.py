"""Custom checkov checks of trackscan, loaded with --external-checks-dir tools/checkov."""
