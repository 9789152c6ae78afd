"""An application written from the documentation's examples, checked with mypy --strict."""
