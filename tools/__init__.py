"""Developer tools run with `python -m tools.<name>`: NLU cross-validation, the NLU and safety
reports. Never imported by the product."""
